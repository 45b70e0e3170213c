#!/bin/busybox sh
# /init of the trapsan lab guest (tools/lab/trapsan-lab builds the initramfs).
#
# Mounts the host's root filesystem (9p, read-only) under a tmpfs overlay, the
# host directory the job may write (9p, read-write) at its own path, then runs
# the job's script in a chroot, prints its exit status as the marker line the
# runner looks for, and reboots (qemu runs with -no-reboot, so it exits).
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
  echo "trapsan-lab guest: $*"
  echo "TRAPSAN_LAB_EXIT=125"
  reboot -f
  sleep 1000
}

# The job's parameters arrive on the kernel command line.
job=""
rw=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    trapsan_lab.job=*) job="${arg#trapsan_lab.job=}" ;;
    trapsan_lab.rw=*) rw="${arg#trapsan_lab.rw=}" ;;
  esac
done
[ -n "$job" ] || fail "no trapsan_lab.job= on the kernel command line"

for m in $(cat /modules.order); do
  insmod "/modules/$m.ko" || fail "insmod $m failed"
done

mkdir -p /lower /ovl /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 \
  hostroot /lower || fail "cannot mount the host's root (9p)"
mount -t tmpfs -o size=50% tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay \
  -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work /newroot \
  || fail "cannot mount the overlay"
if [ -n "$rw" ]; then
  mkdir -p "/newroot$rw"
  mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,msize=512000 \
    work "/newroot$rw" || fail "cannot mount $rw read-write (9p)"
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
# /tmp is not a tmpfs of its own: the host's /tmp shows through the overlay
# (a checkout under /tmp must be reachable), and writes land in guest memory.
mount -t tmpfs tmpfs /newroot/run

# ttyS0 as the job's stdout/stderr: no CR added to every LF.
stty -F /dev/ttyS0 -onlcr 2>/dev/null

chroot /newroot /bin/sh "$job/run.sh" </dev/null >/dev/ttyS0 2>&1
rc=$?
sync
echo "TRAPSAN_LAB_EXIT=$rc" >/dev/ttyS0
reboot -f
sleep 1000
