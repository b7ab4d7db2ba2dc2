package dev.cmwq.workqueue.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

@SpringBootTest(classes = ActuatorTestApp.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "management.endpoints.web.exposure.include=*",
        "management.endpoint.workqueues.access=unrestricted", "management.endpoint.health.show-details=always",
        "workqueue.queues.writeback.flags=unbound,sysfs", "workqueue.queues.writeback.max-active=8"})
class EndpointSmokeTest {

    @LocalServerPort
    int port;

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
    void readsAndWrites() throws Exception {
        HttpResponse<String> all = get("/actuator/workqueues");
        System.out.println(all.statusCode() + " " + all.body());
        assertThat(all.statusCode()).isEqualTo(200);
        assertThat(get("/actuator/workqueues/nope").statusCode()).isEqualTo(404);
        HttpResponse<String> w = post("/actuator/workqueues/writeback", "{\"max_active\": 4, \"nice\": 5, \"cpumask\": \"0-1\"}");
        System.out.println(w.statusCode() + " " + w.body());
        assertThat(w.statusCode()).isEqualTo(200);
        HttpResponse<String> bad = post("/actuator/workqueues/writeback", "{\"nice\": 25}");
        System.out.println(bad.statusCode() + " " + bad.body());
        assertThat(bad.statusCode()).isEqualTo(400);
        HttpResponse<String> health = get("/actuator/health/workqueues");
        System.out.println(health.statusCode() + " " + health.body());
        HttpResponse<String> prom = get("/actuator/prometheus");
        System.out.println(prom.statusCode() + " " + prom.body().lines().filter(l -> l.contains("writeback")).limit(30).toList());
    }
}
