"""Stack health: each service answers its own protocol-level probe.

One mapped task per service runs the probe of `websessions.pipeline_state.PROBES` (a real query
through the client the product uses, not an open port), the same probe the dashboard's Pipeline page
and `websessions stack status` use; it does not depend on how the services were started. Trigger it
by hand after `websessions stack up`; the `services` param picks which services to check, all by
default, e.g. `{"services": ["postgres", "airflow"]}` when only those run. A failed service fails its
own task instance, named after the service, and says which `websessions stack` command shows why.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from websessions.pipeline_state import PROBES


@task
def requested_services(params: dict | None = None) -> list[str]:
    """The services to check, from the run's ``services`` param."""
    return list(params["services"])


@task(map_index_template="{{ service }}")
def check_service(service: str) -> str:
    """Raise unless ``service`` answers its health probe; returns what the probe saw."""
    from airflow.sdk import get_current_context

    from websessions.settings import get_settings

    get_current_context()["service"] = service  # names the mapped task instance in the UI
    hint = f"see `websessions stack status` and `websessions stack logs {service}`"
    try:
        detail = PROBES[service](get_settings())
    except Exception as exc:
        raise RuntimeError(f"{service} health probe failed ({exc}); {hint}") from exc
    return f"{service}: {detail}"


with DAG(
    dag_id="stack_health",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["stack", "health"],
    default_args={"owner": "websessions", "retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "services": Param(
            list(PROBES),
            type="array",
            items={"type": "string", "enum": list(PROBES)},
            minItems=1,
            description="The services to check.",
        )
    },
):
    check_service.expand(service=requested_services())
