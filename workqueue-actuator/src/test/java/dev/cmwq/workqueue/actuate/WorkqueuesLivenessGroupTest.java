package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Http;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Response;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Stall;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.annotation.DirtiesContext;
import tools.jackson.databind.JsonNode;

/**
 * Opting in: an application that wants to be restarted on a workqueue lockup adds the contributor
 * to the liveness group,
 *
 * <pre>
 * management.endpoint.health.group.liveness.include=livenessState,workqueues
 * </pre>
 *
 * and the liveness probe goes DOWN (503) during a real stall and UP again when the pool recovers.
 * The readiness group is untouched.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "workqueue.watchdog.threshold=1s", "workqueue.monitor-interval=0",
        "management.endpoints.web.exposure.include=health,prometheus,workqueues",
        "management.endpoint.health.show-details=always", "management.endpoint.health.probes.enabled=true",
        "management.endpoint.health.group.liveness.include=livenessState,workqueues",
        "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@DirtiesContext
class WorkqueuesLivenessGroupTest {

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

    @Test
    void withTheContributorIncludedTheLivenessProbeIsDownDuringAStall() {
        Http http = new Http(port);
        Response before = http.get("/actuator/health/liveness");
        assertThat(before.status()).isEqualTo(200);
        JsonNode components = before.json().path("components");
        assertThat(components.path("livenessState").path("status").asString()).isEqualTo("UP");
        assertThat(components.path("workqueues").path("status").asString()).as("in the group: %s", before.body()).isEqualTo("UP");

        Stall stall = Stall.provoke(engine);
        try {
            Response down = await().until(() -> http.get("/actuator/health/liveness"), r -> r.status() == 503);
            JsonNode json = down.json();
            assertThat(json.path("status").asString()).isEqualTo("DOWN");
            assertThat(json.path("components").path("livenessState").path("status").asString()).isEqualTo("UP");
            JsonNode wq = json.path("components").path("workqueues");
            assertThat(wq.path("status").asString()).isEqualTo("DOWN");
            assertThat(wq.path("details").path("stalled").get(0).path("pool").asString())
                    .isEqualTo(WorkqueuesHealthStallTest.CPU0_POOL);
            assertThat(wq.path("details").path("stalled").get(0).path("pending").asInt()).isEqualTo(1);
            // readiness keeps its default members
            Response readiness = http.get("/actuator/health/readiness");
            assertThat(readiness.status()).as("readiness: %s", readiness.body()).isEqualTo(200);
            assertThat(readiness.body()).doesNotContain("workqueues");
            stall.releaseAndAwaitProgress();
        } finally {
            stall.close();
        }
        Response up = await().until(() -> http.get("/actuator/health/liveness"), r -> r.status() == 200);
        assertThat(up.json().path("status").asString()).isEqualTo("UP");
        assertThat(up.json().path("components").path("workqueues").path("status").asString()).isEqualTo("UP");
    }
}
