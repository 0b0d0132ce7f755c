{ pkgs, ... }: { supervisord.services.app.command = "${pkgs.nodejs}/bin/node"; }
