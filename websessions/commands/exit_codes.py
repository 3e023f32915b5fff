"""The exit codes of every ``websessions`` command, one meaning each (shown by ``websessions --help``)."""

from __future__ import annotations

OK = 0
FAILED = 1  # a check failed or the work was refused (unbalanced audit, failed reconciliation, a held lease...)
USAGE = 2  # bad arguments or input: argparse's own code, unreadable files, a day not ready without --force
NOT_RUNNING = 3  # status: the job or service is not running (or does not answer)
UNREACHABLE = 4  # a service did not answer (Kafka, HDFS, HBase, Postgres, HiveServer2, Airflow): one line on stderr
INTERRUPTED = 130  # stopped with Ctrl-C

EPILOG = f"""exit codes:
  {OK}    ok
  {FAILED}    a check failed, or the work was refused (the reason on stderr)
  {USAGE}    usage: bad arguments or input
  {NOT_RUNNING}    status: not running
  {UNREACHABLE}    a service is unreachable: one line naming it and the fix
  {INTERRUPTED}  interrupted (Ctrl-C)"""
