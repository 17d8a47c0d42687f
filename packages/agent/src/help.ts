/**
 * `pgha --help`: a manual page in the terminal, laid out as man(7) sections, since the Debian
 * package ships no separate man page: what a DBA looks for (the files, the signals systemd sends,
 * the exit codes a unit's `Restart=` sees) is in one place.
 */

/** The one-line synopsis, also printed after a usage error. */
export const USAGE = `usage: pgha [--validate-config] <config.yml | config directory>
       pgha --generate-config [--dsn DSN] [output.yml]
       pgha --generate-sample-config [output.yml]
       pgha --version | --help
       (or set PATRONI_CONFIGURATION to the whole YAML document)`;

export const MANUAL = `PGHA(1)                      pgha manual                      PGHA(1)

NAME
       pgha - PostgreSQL high-availability agent, a drop-in replacement for Patroni

SYNOPSIS
       pgha [--validate-config] <config.yml | config directory>
       pgha --generate-config [--dsn DSN] [output.yml]
       pgha --generate-sample-config [output.yml]
       pgha --version
       pgha --help

DESCRIPTION
       One agent runs beside each PostgreSQL server. The agents agree on the primary
       through a distributed configuration store (etcd v3 or ZooKeeper), promote a
       replica when the primary fails, rejoin the old primary, and serve a REST API
       for operators, load balancers and pghactl(1).

       The configuration is a Patroni YAML file, read unchanged, or a directory whose
       *.yml and *.yaml files are merged in name order. PATRONI_* (or PGHA_*) variables
       override its keys as they do for Patroni.

OPTIONS
       --validate-config
              Check the configuration, print every problem with its key path, and exit
              without starting anything.
       --generate-config [--dsn DSN] [output.yml]
              Write a complete configuration for this host (to output.yml, mode 0600, or
              standard output). With --dsn (libpq key=value or a postgres:// URL, as a
              superuser) from the running PostgreSQL: data directory, cluster name, port,
              the parameters set on purpose, pg_hba, pg_ident, binaries. Without it, with
              defaults: host name and address, the newest installed PostgreSQL, new random
              passwords. PATRONI_* variables override what it writes.
       --generate-sample-config [output.yml]
              The same with defaults only (Patroni's spelling).
       --version
              Print pgha's version and the Patroni version whose formats it speaks.
       -h, --help
              Print this page.

FILES
       /etc/pgha/pgha.yml
              The configuration the systemd unit starts the agent with.
       /etc/pgha/pgha.yml.example
              A complete, commented configuration for one member on etcd.
       /lib/systemd/system/pgha.service
              The systemd unit (Type=notify).

ENVIRONMENT
       PATRONI_CONFIGURATION, PGHA_CONFIGURATION
              The whole YAML document, when no file is given.
       PATRONI_NAME, PATRONI_SCOPE, PATRONI_SUPERUSER_PASSWORD, ...
              Override single keys (Patroni's list); the PGHA_ spelling wins.
       NOTIFY_SOCKET, WATCHDOG_USEC
              Set by systemd: READY=1 is sent once the REST API serves and the member
              has joined the cluster, RELOADING=1 around a reload, STOPPING=1 on stop,
              and WATCHDOG=1 pings when the unit sets WatchdogSec.

SIGNALS
       SIGHUP
              Read the configuration again; a file that does not validate is rejected
              whole and the running configuration stays.
       SIGTERM, SIGINT
              Stop cleanly: PostgreSQL is stopped and the leader lock released, so a
              replica takes over at once. A second one exits at once.

EXIT STATUS
       0      Stopped cleanly, or the configuration is valid.
       1      The configuration is invalid, or the agent refused to start.
       2      Unknown option.
       70     An error nothing handled (a bug): PostgreSQL was fenced when this member
              was or may have been the primary.

SEE ALSO
       pghactl(1) (pghactl --help), /usr/share/doc/pgha/operations.md`;
