// Package sshconn is nd-push's SSH client. It opens one connection to a
// droplet and honours the user's OpenSSH set-up the way ssh(1) would:
// ~/.ssh/config (or -F), Host aliases, ProxyJump chains, ssh-agent and
// identity files, and strict known_hosts checking.
//
// Everything nd-push sends to a droplet goes over the single *Client that
// Dial returns: streams to unix sockets (direct-streamlocal@openssh.com),
// exec channels (Run, Command) and SFTP. Only nd-push code (internal/cli,
// internal/agentclient) may import this package; nd-agent must not.
package sshconn
