"""The shape of docker-compose.yml: what `docker compose up` would do, checked without Docker.

Healthchecks and ``service_healthy`` dependencies (a worker must not start before Kafka
answers), restart policies, listeners for the host and for the containers, and no service that
starts an undo on ``up`` (an undo rewrites tables: only an operator starts one).
"""

from __future__ import annotations

from tests.compose_file import load

#: tiundo commands that start (or are) an undo; they must never run on a plain `up`
_UNDO_COMMANDS = {"run", "ingest", "replay"}


def test_nothing_starts_an_undo_on_up() -> None:
    services = load()
    for svc in services.values():
        if svc.is_tiundo and svc.command[1] in _UNDO_COMMANDS:
            assert svc.profiles, f"{svc.name} runs `{' '.join(svc.command)}` on a plain `up`"
            assert svc.spec.get("restart") in (None, "no"), f"{svc.name} would redo the undo"
    assert any(s.is_tiundo and s.command[1] == "run" for s in services.values()), (
        "no service runs the job"
    )


def test_long_running_services_have_healthchecks_and_restart_policies() -> None:
    for svc in load().values():
        if svc.profiles:  # one-shot, run by hand
            continue
        assert svc.spec.get("restart") in ("unless-stopped", "always", "on-failure"), svc.name
        if not svc.is_tiundo:
            test = svc.spec.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{svc.name} has no healthcheck"


def test_every_dependency_waits_for_a_healthy_service() -> None:
    services = load()
    for svc in services.values():
        for dep, cond in svc.depends_on.items():
            assert dep in services, (svc.name, dep)
            assert cond.get("condition") == "service_healthy", (svc.name, dep, cond)
            assert "healthcheck" in services[dep].spec, (svc.name, dep)


def test_tiundo_services_depend_on_what_their_addresses_name() -> None:
    services = load()
    host_of = {
        "TIUNDO_KAFKA": lambda v: v.split("://", 1)[-1].split(":", 1)[0],
        "TIUNDO_PD": lambda v: v.split("://", 1)[-1].split(":", 1)[0],
        "TIUNDO_STATUS_API": lambda v: v.split("://", 1)[-1].split(":", 1)[0],
        "TIUNDO_DOWNSTREAM": lambda v: v.split("@", 1)[-1].split(":", 1)[0],
    }
    for svc in services.values():
        if not svc.is_tiundo:
            continue
        for key in ("TIUNDO_KAFKA", "TIUNDO_DOWNSTREAM"):
            host = host_of[key](svc.env[key])
            assert host in svc.depends_on, f"{svc.name} talks to {host} without waiting for it"
        if svc.command[1] == "run":
            for key in ("TIUNDO_PD", "TIUNDO_STATUS_API"):
                host = host_of[key](svc.env[key])
                assert host in svc.depends_on, f"{svc.name} talks to {host} without waiting for it"


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    out = {}
    for item in value.split(","):
        name, _, addr = item.partition("://")
        host, _, port = addr.rpartition(":")
        out[name] = (host, int(port))
    return out


def test_kafka_is_reachable_from_the_containers_and_from_the_host() -> None:
    services = load()
    env = services["kafka"].env
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    bound = _listeners(env["KAFKA_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    published = {
        int(p.split(":")[0]): int(p.split(":")[1]) for p in services["kafka"].spec["ports"]
    }
    # the containers' address: the service name, and the tiundo services use it
    inside = [n for n, (h, _) in advertised.items() if h == "kafka"]
    assert inside, advertised
    kafka_env = {s.env["TIUNDO_KAFKA"] for s in services.values() if s.is_tiundo}
    assert kafka_env == {f"kafka://kafka:{advertised[inside[0]][1]}"}, kafka_env
    # the host's address: localhost on a published port that the broker binds
    outside = [n for n, (h, _) in advertised.items() if h in ("localhost", "127.0.0.1")]
    assert outside, f"no listener advertised to the host: {advertised}"
    port = advertised[outside[0]][1]
    assert published.get(port) == bound[outside[0]][1], (published, bound)
    # every listener has a protocol; every advertised one is bound
    assert set(bound) <= set(protocols), (bound, protocols)
    assert set(advertised) <= set(bound), (advertised, bound)


def test_workers_wait_for_their_job_rather_than_exit() -> None:
    worker = load()["worker"]
    assert worker.command[:2] == ["tiundo", "worker"]
    assert float(worker.env["TIUNDO_RECORD_WAIT_S"]) >= 3600
    assert worker.env["TIUNDO_DATADIR"]
