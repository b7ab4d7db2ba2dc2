package dev.cmwq.workqueue.actuate;

import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.await;
import static dev.cmwq.workqueue.actuate.ActuatorTestSupport.awaitLatch;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.actuate.ActuatorTestSupport.Http;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.annotation.DirtiesContext;

/**
 * Queues and pools that come into being after the registry bound the meters. {@code WorkqueueMetrics}
 * registers meters only for the queues and pools that exist when it binds (its Javadoc says so), so
 * a pool created by the actuator's own sysfs write and a queue allocated at run time have none.
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "workqueue.queues.writeback.flags=unbound,sysfs",
        "management.endpoints.web.exposure.include=health,prometheus,workqueues",
        "management.endpoint.workqueues.access=unrestricted", "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@DirtiesContext
class WorkqueueMetricsLateBindingTest {

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

    @Test
    void aPoolCreatedByASysfsWriteGetsItsGauges() throws Exception {
        HttpResponse<String> w = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://localhost:" + port + "/actuator/workqueues/writeback"))
                .header("Content-Type", "application/json")
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString("ops:ops-secret".getBytes(StandardCharsets.UTF_8)))
                .POST(HttpRequest.BodyPublishers.ofString("{\"nice\": 5}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(w.statusCode()).as(w.body()).isEqualTo(200);
        PoolStats created = engine.pools().stream().filter(p -> p.kind().equals("unbound") && p.nice() == 5).findFirst()
                .orElseThrow();
        Http http = new Http(port);
        await().until(() -> http.scrape().value("workqueue_pool_workers", "pool", String.valueOf(created.id()), "kind", "unbound")
                .isPresent());
    }

    @Test
    void aQueueAllocatedAtRunTimeGetsItsMeters() {
        Workqueue late = engine.alloc("late", Set.of(), 0);
        try {
            CountDownLatch ran = new CountDownLatch(1);
            late.queue(new Work("late-item", ran::countDown));
            awaitLatch(ran);
            Http http = new Http(port);
            await().until(() -> http.scrape().value("executor_completed_tasks_total", "name", "late").orElse(-1.0) == 1);
        } finally {
            late.destroy();
        }
    }
}
