{ pkgs, ... }: { supervisord.services.a.command = "x" 
