/**
 * Where a server of a multi-server DCS runs when it is not on loopback: on a "host" of the
 * namespace network (tools/cluster's netns module), with an address of its own and its command
 * started through that host (`nsenter --net=...`). Each host has its own address, so servers
 * placed on hosts use the store's standard ports instead of free loopback ports.
 */
export interface ServerHost {
  /** The host's IPv4 address, which the server listens on and advertises. */
  address: string;
  /** The command line that runs `command args` on the host. */
  wrap(command: string, args: string[]): { command: string; args: string[] };
}
