{ pkgs, ... }: { supervisord.services."my app".command = "x"; }
