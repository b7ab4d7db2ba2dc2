package dev.cmwq.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** The perf-wq load endpoint over real HTTP: a short run of workload 5, refusals, bad input. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "workqueue.cpus=2")
class PerfWqLoadTest {

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newHttpClient();
    final ObjectMapper json = new ObjectMapper();

    HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void workload5RunsToTheEndAndASecondTriggerIsRefused() throws Exception {
        HttpResponse<String> started = post("/api/load?workload=5&seconds=2&burn=L");
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        // refused while the first runs, like mutex_trylock() -> -EBUSY
        HttpResponse<String> busy = post("/api/load?workload=5&seconds=2");
        assertThat(busy.statusCode()).as(busy.body()).isEqualTo(409);
        assertThat(json.readTree(busy.body()).get("error").asString()).contains("in progress");

        JsonNode plan = json.readTree(started.body());
        long id = plan.get("id").asLong();
        List<String> queues = new ArrayList<>();
        plan.get("plan").get("queues").forEach(q -> queues.add(q.asString()));
        // wl5: 2 wqs with 2 medium, 4 with 2 medium + 1 long, 8 with 1 long -> pwq-04..pwq-17
        assertThat(queues).hasSize(14).first().isEqualTo("pwq-04");
        assertThat(plan.get("plan").get("works").get("med").asInt()).isEqualTo(12);
        assertThat(plan.get("plan").get("works").get("lng").asInt()).isEqualTo(12);
        assertThat(plan.get("plan").get("works").has("sht")).isFalse();

        Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                .until(() -> json.readTree(get("/api/load").body()).get("state").asString().equals("done"));

        JsonNode run = json.readTree(get("/api/load").body());
        assertThat(run.get("id").asLong()).isEqualTo(id);
        assertThat(run.get("workload").asInt()).isEqualTo(5);
        assertThat(run.get("testRuns").size()).isEqualTo(24);
        for (JsonNode t : run.get("testRuns")) {
            assertThat(t.get("cyclesDone").asInt()).as(t.toString()).isEqualTo(t.get("cycles").asInt()).isPositive();
            assertThat(t.get("ranMsecs").isNumber()).as(t.toString()).isTrue();
            assertThat(t.get("name").asString()).matches("(med|lng)-\\d+:\\d@\\d+");
        }
        assertThat(run.get("totals").get("finished").asInt()).isEqualTo(24);
        assertThat(run.get("totals").get("cyclesDone").asLong()).isEqualTo(run.get("totals").get("cycles").asLong());
        assertThat(run.get("report").size()).isEqualTo(24);
        assertThat(run.get("report").get(0).asString()).matches("test med-5:0@4 ran for \\d+ msecs");

        JsonNode wqs = json.readTree(get("/actuator/workqueues").body()).get("workqueues");
        for (String q : queues) {
            JsonNode wq = wqs.get(q);
            assertThat(wq).as(q).isNotNull();
            assertThat(wq.get("stats").get("total").asLong()).as(q).isPositive();
            assertThat(wq.get("per_cpu").asBoolean()).as(q).isTrue();
            assertThat(wq.get("max_active").asInt()).as(q).isEqualTo(1);
            assertThat(wq.get("flags").toString()).as(q).contains("WQ_MEM_RECLAIM");
        }

        // the queues are made once and reused: a second run starts fine on the same queues
        HttpResponse<String> again = post("/api/load?workload=5&seconds=1&burn=s");
        assertThat(again.statusCode()).as(again.body()).isEqualTo(202);
        assertThat(json.readTree(again.body()).get("plan").get("queues").toString()).contains("pwq-04");
        Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                .until(() -> json.readTree(get("/api/load").body()).get("state").asString().equals("done"));
    }

    @Test
    void badInputIs400WithTheValueAndTheRange() throws Exception {
        assertBad("/api/load?workload=6&seconds=2", "workload 6", "0..5");
        assertBad("/api/load?workload=-1&seconds=2", "workload -1", "0..5");
        assertBad("/api/load?workload=5&seconds=0", "seconds 0", "1..300");
        assertBad("/api/load?workload=5&seconds=301", "seconds 301", "1..300");
        assertBad("/api/load?workload=5&seconds=2&burn=X", "burn 'X'", "L");
        assertBad("/api/load?workload=five", "workload 'five'", "0..5");
    }

    void assertBad(String path, String names, String allowed) throws Exception {
        HttpResponse<String> r = post(path);
        assertThat(r.statusCode()).as(path + " " + r.body()).isEqualTo(400);
        assertThat(json.readTree(r.body()).get("error").asString()).contains(names).contains(allowed);
    }
}
