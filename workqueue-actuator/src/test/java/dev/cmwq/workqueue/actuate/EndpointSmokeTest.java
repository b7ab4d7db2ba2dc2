package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * One pass over every part with a real HTTP client: listing, one queue, a write, a refused write,
 * health, and the Prometheus scrape after real work (the scrape's workqueue lines are saved to
 * target/prometheus-sample.txt for the docs).
 */
@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "management.endpoints.web.exposure.include=*",
        "management.endpoint.workqueues.access=unrestricted", "management.endpoint.health.show-details=always",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8"})
class EndpointSmokeTest {

    @LocalServerPort
    int port;

    @Autowired
    @Qualifier("writeback")
    Workqueue writeback;

    final HttpClient http = HttpClient.newHttpClient();

    HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String json) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .header("Content-Type", "application/json")
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString("ops:ops-secret".getBytes(StandardCharsets.UTF_8)))
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void everyPartAnswers() throws Exception {
        assertThat(get("/actuator/workqueues").body()).contains("\"writeback\"").contains("\"pools\"");
        assertThat(get("/actuator/workqueues/nope").statusCode()).isEqualTo(404);
        HttpResponse<String> w = post("/actuator/workqueues/writeback", "{\"max_active\": 4, \"nice\": 5, \"cpumask\": \"0-1\"}");
        assertThat(w.statusCode()).isEqualTo(200);
        assertThat(w.body()).contains("\"max_active\":4").contains("\"nice\":5");
        HttpResponse<String> bad = post("/actuator/workqueues/writeback", "{\"nice\": 25}");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("\"key\":\"nice\"").contains("\"value\":\"25\"").contains("-20..19");
        assertThat(get("/actuator/health/workqueues").body()).contains("\"status\":\"UP\"");

        for (int i = 0; i < 24; i++) {
            int n = i;
            writeback.queue(new Work("sample-" + i, () -> {
                if (n % 6 == 0) {
                    throw new IllegalStateException("planned failure (sample)");
                }
            }));
        }
        Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> get("/actuator/prometheus").body()
                .contains("executor_completed_tasks_total{name=\"writeback\"} 24.0"));
        String scrape = get("/actuator/prometheus").body();
        assertThat(scrape).contains("workqueue_failed_tasks_total{name=\"writeback\"} 4.0");
        Files.writeString(Path.of("target", "prometheus-sample.txt"), scrape.lines()
                .filter(l -> l.contains("writeback") || l.startsWith("# TYPE executor") || l.startsWith("# TYPE workqueue")
                        || l.contains("workqueue_pool_workers") || l.contains("workqueue_watchdog"))
                .collect(Collectors.joining("\n")));
    }
}
