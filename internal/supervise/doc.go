// Package supervise is nd-init's process supervisor: the program that runs as
// PID 1 in an nd container and starts, watches and stops the app's processes
// described by a manifest.Processes file. Only cmd/nd-init imports it.
//
// The container has nothing but /nix/store (read-only) and a small /etc, so
// this package needs no shell, no libc and no external tools: it splits
// commands itself (Split), reads passwd/group itself (LookupUser), and does
// PID 1's work of reaping every child, including orphaned grandchildren.
//
// Behaviour, modelled on supervisord:
//
//   - Oneshot processes run first, one at a time in file order; each must
//     exit 0 before the next starts. A failing oneshot fails the container
//     with its exit status. StartSecs and AutoRestart do not apply to them.
//   - Then all other processes start together. A process that exits before
//     StartSecs has failed to start; it is retried after 1s, 2s, 3s, and after
//     StartRetries (3) retries it is FATAL, which fails the container.
//   - The ready file (Options.ReadyFile) appears once every oneshot has
//     succeeded and every other process has stayed up for its StartSecs or
//     listens on a TCP or Unix stream socket, whichever comes first: a
//     server is up when it listens. It changes nothing else: a process that
//     exits within StartSecs has failed its start even if it listened.
//   - A process that exits after a successful start is restarted according to
//     AutoRestart: "true" always, "unexpected" (the default) when its status
//     is not 0, "false" never. The first restart is immediate; further
//     restarts of a process that keeps exiting within ResetAfter (10s) of
//     starting wait 1s, 2s, 4s, ... up to 30s.
//   - When no process is running or due to restart (all were "false" or
//     "unexpected" and exited), the container ends: with the status of the
//     first process that exited non-zero, else 0.
//   - SIGTERM, SIGINT and SIGQUIT stop the container: the signal goes to every
//     process group, and whatever is still running after the grace period
//     (StopGracePeriod, default 10s) gets SIGKILL. A stop asked for by signal
//     ends with 0. SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH are passed on.
//   - A failed container ends with a failed oneshot's status, a FATAL
//     process's last status (1 if that was 0), or, once every process has
//     exited for good, the first non-zero status; a death by signal N counts
//     as 128+N, a program that is missing as 127 and one that cannot be
//     executed as 126. A file with no processes ends at once with 0.
//   - The container's stop timeout (docker stop -t) should exceed the grace
//     period, or Docker kills nd-init before nd-init kills the stragglers.
//   - Every line a process writes is prefixed "name | " on the same stream
//     (stdout or stderr); nd-init's own lines are prefixed "nd-init | " on
//     stderr.
package supervise
