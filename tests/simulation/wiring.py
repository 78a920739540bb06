"""The production composition root, wiring the simulation's actors, and
the settings they are wired with."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from dependency_injector import containers, providers

from domain.answers import RetryAfter
from domain.enqueue import EnqueueSettings
from domain.reconcile import ReconcileSettings
from domain.retry import RetryPolicy, seeded
from domain.work import WorkSettings
from entrypoints.containers import Container
from tests.fakes import FakeIds
from tests.simulation.sim_ports import SimEventBus, SimHandlers, SimPublisher, SimRepository

if TYPE_CHECKING:
    from tests.simulation.world import World

T = TypeVar("T")
SEND_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=3)
STORE_POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, attempt_timeout_s=1.5)
PRODUCER_TIMEOUT = timedelta(seconds=20)
WORKER_TIMEOUT = timedelta(seconds=30)
MARGIN = timedelta(seconds=3)
GRACE = timedelta(seconds=300)
RETENTION = timedelta(days=4)
MAX_ATTEMPTS = 3
CALLER = "client"


class Wiring:
    """The production composition root, wiring the simulation's actors.

    Built once per process: a container costs about a millisecond to build,
    more than most schedules take. Its ports are overridden, as one group,
    by providers that read the world and actor being wired; the use cases
    are factories, so every build makes an actor its own use case, retriers
    and seeded random sources, wired by the code that wires the Lambda
    functions.
    """

    def __init__(self) -> None:
        self.world: World | None = None
        self.actor = ""
        self.grace = self.event_grace = GRACE
        self.container = container = Container()
        ports = containers.DynamicContainer()
        ports.set_providers(
            jobs=providers.Callable(lambda: SimRepository(self._world())),
            publisher=providers.Callable(lambda: SimPublisher(self._world())),
            clock=providers.Callable(lambda: self._world().clock),
            sleeper=providers.Callable(lambda: self._world().clock),
            metrics=providers.Callable(lambda: self._world().metrics),
            ids=providers.Callable(lambda: FakeIds(self.actor, *self._world().id_keys.get(self.actor, (1, None)))),
            rng=providers.Callable(seeded, 0),
            handlers=providers.Callable(lambda: SimHandlers(self._world())),
            bus=providers.Callable(lambda: SimEventBus(self._world())),
        )
        container.ports.override(ports)
        use_cases = container.use_cases
        overrides: dict[providers.Provider[Any], providers.Provider[Any]] = {
            use_cases.store_policy: providers.Object(STORE_POLICY),
            use_cases.send_policy: providers.Object(SEND_POLICY),
            use_cases.enqueue_settings: providers.Object(
                EnqueueSettings(deadline_margin=MARGIN, retry_after=RetryAfter(1, 1))
            ),
            use_cases.work_settings: providers.Object(WorkSettings(max_attempts=MAX_ATTEMPTS, margin=MARGIN)),
            use_cases.reconcile_settings: providers.Callable(
                lambda: ReconcileSettings(
                    grace=self.grace,
                    message_retention=self._world().retention,
                    batch_limit=10,
                    margin=MARGIN,
                    event_grace=self.event_grace,
                )
            ),
        }
        for provider, override in overrides.items():
            provider.override(override)

    def _world(self) -> World:
        assert self.world is not None, "a port was built outside Wiring.build"
        return self.world

    def build(
        self,
        use_case: str,
        kind: type[T],
        world: World,
        actor: str,
        grace: timedelta = GRACE,
        event_grace: timedelta = GRACE,
    ) -> T:
        self.world, self.actor, self.grace, self.event_grace = world, actor, grace, event_grace
        try:
            # Tests swap in a defective worker to show the exploration finds it.
            self.container.use_cases.process_job_message.set_provides(world.worker_class)  # type: ignore[attr-defined]
            built = getattr(self.container.use_cases, use_case)()
        finally:
            self.world = None
        assert isinstance(built, kind)
        return built


WIRING = Wiring()
