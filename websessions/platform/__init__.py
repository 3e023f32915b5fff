"""What every deployment of the product needs, rendered from the settings alone.

The local stack (:mod:`websessions.stack`, the single-machine process manager), the jobs (``batch/``,
``streaming/``), the DAGs and the cluster's images (``docker/``) all import these modules, so the
two deployments cannot drift apart; none of them knows how a service's process is started:

- :mod:`.artifacts`: the pinned JVM jar sets and their classpaths (resolved with Maven, cached);
- :mod:`.javac`: the project's own Java code compiled into a cached jar;
- :mod:`.hive_config`: the metastore and warehouse properties (HiveServer2 and the batch job's Spark);
- :mod:`.airflow_config`: Airflow's whole configuration as environment variables;
- :mod:`.bootstrap`: the stores' initial state (Kafka topics, HDFS directories).
"""
