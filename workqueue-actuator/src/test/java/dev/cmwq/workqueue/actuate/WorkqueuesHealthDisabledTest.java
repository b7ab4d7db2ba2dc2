package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Http;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Response;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Stall;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Import;
import org.springframework.test.annotation.DirtiesContext;

/**
 * {@code management.health.workqueues.enabled=false} switches the contributor off like any other
 * Spring Boot health indicator; the meters of the queues stay.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "workqueue.watchdog.threshold=1s", "workqueue.monitor-interval=0",
        "management.health.workqueues.enabled=false",
        "management.endpoints.web.exposure.include=health,prometheus,workqueues",
        "management.endpoint.health.show-details=always", "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@Import(StallEventRecorder.class)
@DirtiesContext
class WorkqueuesHealthDisabledTest {

    @LocalServerPort
    int port;

    @Autowired
    ApplicationContext context;

    @Autowired
    Workqueues engine;

    @Autowired
    MeterRegistry registry;

    @Autowired
    StallEventRecorder recorder;

    @Test
    void theContributorCanBeSwitchedOffAndTheQueueMetersStay() {
        Http http = new Http(port);
        assertThat(context.getBeanNamesForType(WorkqueuesHealthIndicator.class)).isEmpty();
        assertThat(http.get("/actuator/health/workqueues").status()).isEqualTo(404);
        Response health = http.get("/actuator/health");
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.json().path("components").has("workqueues")).isFalse();
        assertThat(http.scrape().value("executor_completed_tasks_total", "name", "events")).isPresent();
        assertThat(http.get("/actuator/workqueues").status()).isEqualTo(200);
    }

    /**
     * Switching the health indicator off also switches off the stall events and the stall meter:
     * both live in {@link WorkqueuesHealthIndicator} (the only watchdog listener), and
     * {@code WorkqueueMetrics} registers {@code workqueue.watchdog.stalls} only when that bean exists.
     */
    @Test
    void stallEventsAndTheStallMeterDoNotDependOnTheHealthIndicator() {
        Http http = new Http(port);
        assertThat(http.scrape().value("workqueue_watchdog_stalls_total", "engine", engine.name())).contains(0.0);
        Stall stall = Stall.provoke(engine);
        try {
            await().until(() -> engine.stalledPools().contains(stall.poolId));
            await().until(() -> recorder.events().size() == 1);
            assertThat(recorder.events().get(0).isStalled()).isTrue();
            assertThat(registry.get("workqueue.watchdog.stalls").tag("engine", engine.name()).functionCounter().count())
                    .isEqualTo(1);
            stall.releaseAndAwaitProgress();
        } finally {
            stall.close();
        }
        await().until(() -> recorder.events().size() == 2);
        assertThat(recorder.events().get(1).isStalled()).isFalse();
    }
}
