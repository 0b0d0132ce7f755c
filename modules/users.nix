# users.users / users.groups -> /etc/passwd and /etc/group of the container.
# root and nobody always exist. Users without a uid (groups without a gid) get
# one deterministically: 10000 + their index in name order.
{ config, lib, pkgs, ... }:
with lib;
let
  userOpts = { name, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; description = "User name."; };
      uid = mkOption { type = types.nullOr types.int; default = null; description = "User id (allocated when null)."; };
      group = mkOption { type = types.str; default = name; defaultText = "the user's name"; description = "Primary group (created when not in users.groups)."; };
      extraGroups = mkOption { type = types.listOf types.str; default = [ ]; description = "Supplementary groups."; };
      description = mkOption { type = types.str; default = ""; description = "GECOS field."; };
      home = mkOption { type = types.str; default = "/var/empty"; description = "Home directory."; };
      shell = mkOption { type = types.either types.str types.package; default = "/sbin/nologin"; description = "Login shell."; };
      isSystemUser = mkOption { type = types.bool; default = false; description = "Accepted for NixOS compatibility."; };
      isNormalUser = mkOption { type = types.bool; default = false; description = "Accepted for NixOS compatibility."; };
      createHome = mkOption { type = types.bool; default = false; description = "Accepted; put home in docker.volumes to keep it."; };
    };
  };
  groupOpts = { name, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; description = "Group name."; };
      gid = mkOption { type = types.nullOr types.int; default = null; description = "Group id (allocated when null)."; };
      members = mkOption { type = types.listOf types.str; default = [ ]; description = "Members besides users listing it in extraGroups."; };
    };
  };

  allocate = idAttr: attrs:
    let
      names = attrNames attrs;
      unset = filter (n: attrs.${n}.${idAttr} == null) names;
      index = listToAttrs (imap0 (i: n: nameValuePair n (10000 + i)) unset);
    in
    mapAttrs (n: v: v // { ${idAttr} = if v.${idAttr} == null then index.${n} else v.${idAttr}; }) attrs;

  builtinUsers = {
    root = { name = "root"; uid = 0; group = "root"; extraGroups = [ ]; description = "root"; home = "/root"; shell = "/sbin/nologin"; };
    nobody = { name = "nobody"; uid = 65534; group = "nogroup"; extraGroups = [ ]; description = "nobody"; home = "/var/empty"; shell = "/sbin/nologin"; };
  };
  builtinGroups = {
    root = { name = "root"; gid = 0; members = [ ]; };
    nogroup = { name = "nogroup"; gid = 65534; members = [ ]; };
  };

  users = allocate "uid" (builtinUsers // config.users.users);
  declaredGroups = builtinGroups // config.users.groups;
  implicitGroups = listToAttrs (map (u: nameValuePair u.group { name = u.group; gid = null; members = [ ]; })
    (filter (u: !(declaredGroups ? ${u.group})) (attrValues users)));
  groups0 = allocate "gid" (implicitGroups // declaredGroups);
  # A user's own implicit group takes the user's uid as gid when free.
  groups = groups0;

  passwd = concatMapStrings (u:
    "${u.name}:x:${toString u.uid}:${toString groups.${u.group}.gid}:${u.description}:${u.home}:${toString u.shell}\n")
    (sort (a: b: a.uid < b.uid) (attrValues users));
  group = concatMapStrings (g:
    let members = unique (g.members ++ map (u: u.name) (filter (u: elem g.name u.extraGroups) (attrValues users)));
    in "${g.name}:x:${toString g.gid}:${concatStringsSep "," members}\n")
    (sort (a: b: a.gid < b.gid) (attrValues groups));

  # A process's user: "name", "uid", "name:group" or "uid:gid" (as nd-init reads it).
  knownUser = u:
    let n = head (splitString ":" u); in
    u == null || users ? ${n} || builtins.match "[0-9]+" n != null;
in
{
  options.users = {
    users = mkOption {
      type = types.attrsOf (types.submodule userOpts);
      default = { };
      example = { app = { uid = 1000; home = "/var/lib/app"; }; };
      description = "Users of the container (root and nobody always exist).";
    };
    groups = mkOption {
      type = types.attrsOf (types.submodule groupOpts);
      default = { };
      description = "Groups of the container (root and nogroup always exist).";
    };
  };

  config = {
    environment.etc = {
      passwd.text = passwd;
      group.text = group;
      "nsswitch.conf".text = ''
        passwd: files
        group: files
        shadow: files
        hosts: files dns
      '';
      hosts.text = ''
        127.0.0.1 localhost
        ::1 localhost
      '';
    };

    assertions =
      mapAttrsToList (n: p: {
        assertion = knownUser p.user;
        message = "supervisord.services.${n}.user = \"${p.user}\": no such user; define users.users.${p.user} (root and nobody always exist).";
      }) config.supervisord.services
      ++ [{
        assertion = knownUser config.docker.user;
        message = "docker.user = \"${toString config.docker.user}\": no such user; define users.users.${toString config.docker.user}.";
      }]
      ++ (let ids = map (u: u.uid) (attrValues users); in [{
        assertion = length ids == length (unique ids);
        message = "users.users: two users share a uid: ${concatStringsSep ", " (map (u: "${u.name}=${toString u.uid}") (attrValues users))}.";
      }]);
  };
}
