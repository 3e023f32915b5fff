"""The speed layer: the PyFlink sessionization job (:mod:`streaming.sessions_job`), the HBase writer of its
updates (:mod:`streaming.hbase_sink`) and the process that runs both (:mod:`streaming.runner`)."""
