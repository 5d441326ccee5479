#!/bin/sh
# fake_qemu.sh: stands in for qemu-system-x86_64 in launch_* unit tests. Records its argv (one
# per line) in $FAKE_QEMU_ARGS, then, like QEMU, listens on the agent chardev's socket and runs
# until killed. FAKE_QEMU_EXIT=N exits with N at once instead.
printf '%s\n' "$@" > "$FAKE_QEMU_ARGS"
[ -n "${FAKE_QEMU_EXIT:-}" ] && exit "$FAKE_QEMU_EXIT"
sock=$(printf '%s\n' "$@" | sed -n 's/^socket,id=agent,path=\([^,]*\),.*/\1/p')
exec python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); c.sendall(b"hello-from-fake-qemu"); time.sleep(3600)
' "$sock"
