/*
 * delay-line: one link of a Kindling test cluster with a one-way delay, for kernels without netem.
 *
 *   delay-line NETNS_A IFNAME_A NETNS_B IFNAME_B DELAY_US
 *
 * Creates a TAP device IFNAME_A in the network namespace NETNS_A and IFNAME_B in NETNS_B (each a
 * path such as /run/netns/NAME), like the two ends of a veth pair, and forwards every frame that
 * leaves one end into the other DELAY_US microseconds later. Frames keep their order. The kernel
 * still shapes each end's egress with tc as it would a veth's: the delay is added after the queue
 * and rate limit, where netem's delay would be in a leaf. Both devices carry a virtio-net header
 * with checksum and TCP segmentation offload, so a segmentation-offloaded packet of up to 64 KiB
 * crosses as one frame, as it does on a veth.
 *
 * Prints "ready" on stdout once both devices exist (the caller then configures them), and exits
 * when its parent dies, on SIGTERM, or when a device disappears (its namespace was deleted). A
 * direction that has more than QUEUE_BYTES in flight drops frames, as a full netem queue does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_BYTES (8u << 20)
#define MAX_FRAME (65536u + 64u)

/* A frame waiting for its due time. */
struct frame {
  struct frame *next;
  uint64_t due_ns;
  size_t len;
  unsigned char data[];
};

/* One direction of the link: frames read from `from`, oldest first, each written to `to` when due. */
struct direction {
  int from;
  int to;
  struct frame *oldest;
  struct frame *newest;
  size_t queued_bytes;
  uint64_t dropped;
};

static volatile sig_atomic_t stopping = 0;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "delay-line: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Opens a TAP device named `name` in the namespace at `netns_path`. */
static int open_tap(const char *netns_path, const char *name) {
  int ns = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) die(netns_path);
  if (setns(ns, CLONE_NEWNET) < 0) die("setns");
  close(ns);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (strlen(name) >= IFNAMSIZ) {
    errno = ENAMETOOLONG;
    die(name);
  }
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) die("TUNSETOFFLOAD");
  return fd;
}

/* Reads every frame waiting on `d->from` into the queue, due `delay` from now. */
static void take(struct direction *d, uint64_t delay) {
  static unsigned char buf[MAX_FRAME];
  for (;;) {
    ssize_t n = read(d->from, buf, sizeof buf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      die("read");
    }
    if (n == 0) exit(0);
    if (d->queued_bytes + (size_t)n > QUEUE_BYTES) {
      d->dropped++;
      continue;
    }
    struct frame *f = malloc(sizeof *f + (size_t)n);
    if (!f) die("malloc");
    memcpy(f->data, buf, (size_t)n);
    f->len = (size_t)n;
    f->due_ns = now_ns() + delay;
    f->next = NULL;
    if (d->newest) d->newest->next = f;
    else d->oldest = f;
    d->newest = f;
    d->queued_bytes += (size_t)n;
  }
}

/* Writes the frames that are due; returns ns until the next one is, or -1 when none waits. */
static int64_t give(struct direction *d) {
  uint64_t now = now_ns();
  struct frame *f;
  while ((f = d->oldest) != NULL) {
    if (f->due_ns > now) return (int64_t)(f->due_ns - now);
    /* A frame the other end cannot take is lost, as on a wire: EIO while that device is still down
     * (a host's first IPv6 solicitations), ENOBUFS or EAGAIN under pressure. A device that is gone
     * fails its reads too, which ends the process. */
    if (write(d->to, f->data, f->len) < 0) d->dropped++;
    d->oldest = f->next;
    if (!d->oldest) d->newest = NULL;
    d->queued_bytes -= f->len;
    free(f);
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: delay-line NETNS_A IFNAME_A NETNS_B IFNAME_B DELAY_US\n");
    return 2;
  }
  char *end;
  unsigned long delay_us = strtoul(argv[5], &end, 10);
  if (*end || delay_us > 10000000ul) {
    fprintf(stderr, "delay-line: delay %s is not 0-10000000 microseconds\n", argv[5]);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  prctl(PR_SET_TIMERSLACK, 1ul);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  int a = open_tap(argv[1], argv[2]);
  int b = open_tap(argv[3], argv[4]);
  struct direction dirs[2] = {{.from = a, .to = b}, {.from = b, .to = a}};
  printf("ready\n");
  fflush(stdout);
  uint64_t delay = (uint64_t)delay_us * 1000u;
  struct pollfd fds[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
  while (!stopping) {
    int64_t wait = -1;
    for (int i = 0; i < 2; i++) {
      int64_t next = give(&dirs[i]);
      if (next >= 0 && (wait < 0 || next < wait)) wait = next;
    }
    struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
    int n = ppoll(fds, 2, wait < 0 ? NULL : &ts, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) return 0;
      if (fds[i].revents & POLLIN) take(&dirs[i], delay);
    }
  }
  if (dirs[0].dropped || dirs[1].dropped)
    fprintf(stderr, "delay-line: dropped %llu frames A to B, %llu B to A\n", (unsigned long long)dirs[0].dropped,
            (unsigned long long)dirs[1].dropped);
  return 0;
}
