/**
 * poll(2)'s vocabulary, as lws's external-poll contract uses it. The values are Linux's,
 * so a loop that calls the real poll() can pass them straight through.
 */
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;

/** One descriptor's entry in a poll set. The context zeroes `revents` of descriptors it handles. */
export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

export function describeEvents(events: number): string {
  const names: string[] = [];
  if (events & POLLIN) names.push("POLLIN");
  if (events & POLLOUT) names.push("POLLOUT");
  if (events & POLLERR) names.push("POLLERR");
  if (events & POLLHUP) names.push("POLLHUP");
  return names.length ? names.join("|") : "0";
}
