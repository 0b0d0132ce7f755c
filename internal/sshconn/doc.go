// Package sshconn is nd-push's SSH client. It opens one connection to a
// droplet and honours the user's OpenSSH set-up the way ssh(1) would, so that
// `nd-push HOST` reaches every host `ssh HOST` reaches, and refuses every
// host key ssh would refuse.
//
// Everything nd-push sends to a droplet goes over the single *Client that
// Dial returns: streams to unix sockets (direct-streamlocal@openssh.com),
// exec channels (Run, Command) and SFTP. Only nd-push code (internal/cli)
// may import this package; nd-agent must not.
//
// Honoured ssh_config keywords (from -o overrides, then -F or ~/.ssh/config,
// then /etc/ssh/ssh_config; the first value obtained wins, IdentityFile
// accumulates): Host patterns with wildcards and negation, Match host/all,
// Include, HostName (%h), User, Port, IdentityFile (~, %d %u %h %r %p %n %l
// %L), IdentitiesOnly, IdentityAgent, UserKnownHostsFile (several),
// GlobalKnownHostsFile, StrictHostKeyChecking (yes/ask = refuse unknown keys,
// accept-new, no), HashKnownHosts, HostKeyAlias, ProxyJump (chains, each hop
// resolved through the same config), ConnectTimeout, ServerAliveInterval and
// ServerAliveCountMax. Authentication is public-key only: ssh-agent keys and
// unencrypted identity files (an encrypted one is used only through an agent
// that holds it). ProxyCommand is refused with an error; Match criteria other
// than host and all make the config unparsable, as the ssh_config library
// rejects them; other keywords are ignored.
package sshconn
