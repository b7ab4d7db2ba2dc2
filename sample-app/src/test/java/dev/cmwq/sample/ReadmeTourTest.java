package dev.cmwq.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Runs the README's tour against the app: every {@code $ curl} line of the tour, in order, with
 * the same method, headers and body, on this test's port. Each must answer 2xx (a refusal the
 * README shows, 400), and where the
 * README shows a JSON object the answer must have every field the README shows (values differ
 * from run to run: times, thread counts), and equal values where they are deterministic. So the
 * README can't drift from the app.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {"workqueue.cpus=2",
        "sample.audit-file=${java.io.tmpdir}/cmwq-readme-tour/audit.log",
        "sample.writeback-dir=${java.io.tmpdir}/cmwq-readme-tour/pages"})
class ReadmeTourTest {

    /** Fields whose README values hold in every run. */
    private static final List<String> DETERMINISTIC = List.of("fetched", "first", "triggers", "recorded", "lines", "edits",
            "dirtied", "max_active", "nice", "key", "value", "error", "allowed", "changed", "name", "status");

    @LocalServerPort
    int port;

    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = JsonMapper.builder().build();

    record Call(String method, String url, List<String> headers, String body, String expected) {
    }

    static List<Call> tour() throws IOException {
        String readme = Files.readString(Path.of("..", "README.md"));
        int start = readme.indexOf("<!-- tour -->");
        int end = readme.indexOf("\n## ", start);
        assertThat(start).as("README has a <!-- tour --> section").isPositive();
        List<Call> calls = new ArrayList<>();
        Iterator<String> lines = readme.substring(start, end).lines().iterator();
        String pending = null;
        StringBuilder expected = new StringBuilder();
        while (lines.hasNext()) {
            String line = lines.next();
            if (line.startsWith("$ curl ") || line.startsWith("```")) {
                if (pending != null) {
                    calls.add(parse(pending, expected.toString().strip()));
                }
                pending = line.startsWith("$ curl ") ? line : null;
                expected.setLength(0);
            } else if (pending != null) {
                expected.append(line).append('\n');
            }
        }
        return calls;
    }

    private static final Pattern TOKEN = Pattern.compile("'([^']*)'|(\\S+)");

    static Call parse(String line, String expected) {
        List<String> tokens = new ArrayList<>();
        Matcher m = TOKEN.matcher(line.substring("$ curl ".length()));
        while (m.find()) {
            tokens.add(m.group(1) != null ? m.group(1) : m.group(2));
        }
        String method = "GET";
        String url = null;
        String body = null;
        List<String> headers = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            switch (tokens.get(i)) {
                case "-s" -> { }
                case "-X" -> method = tokens.get(++i);
                case "-H" -> headers.add(tokens.get(++i));
                case "-d" -> {
                    body = tokens.get(++i);
                    if (method.equals("GET")) {
                        method = "POST";
                    }
                }
                default -> url = tokens.get(i);
            }
        }
        assertThat(url).as("URL in %s", line).startsWith("localhost:8080");
        return new Call(method, url, headers, body, expected);
    }

    @Test
    void everyTourCallAnswersAsTheReadmeShows() throws Exception {
        List<Call> calls = tour();
        assertThat(calls).as("tour calls").hasSizeGreaterThanOrEqualTo(8);
        for (Call c : calls) {
            HttpResponse<String> r = run(c);
            boolean refusal = c.expected().contains("\"error\"") && c.expected().contains("\"changed\":false");
            if (refusal) { // the tour shows a refused write: a 400 that changes nothing
                assertThat(r.statusCode()).as("%s %s -> %s", c.method(), c.url(), r.body()).isEqualTo(400);
            } else {
                assertThat(r.statusCode()).as("%s %s -> %s", c.method(), c.url(), r.body()).isBetween(200, 299);
            }
            if (c.expected().startsWith("{")) {
                JsonNode want = json.readTree(c.expected());
                if (want.has("runs") && c.method().equals("GET")) { // the debounced re-index runs a second after the edits
                    Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> json.readTree(run(c).body()).path("runs").asInt()
                            == want.path("runs").asInt());
                    r = run(c);
                }
                if (want.has("lines")) { // the ordered audit queue writes asynchronously
                    Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> json.readTree(run(c).body()).path("lines")
                            .size() == want.path("lines").size());
                    r = run(c);
                }
                JsonNode got = json.readTree(r.body());
                for (Map.Entry<String, JsonNode> field : want.properties()) {
                    assertThat(got.has(field.getKey())).as("%s answers field %s: %s", c.url(), field.getKey(), r.body()).isTrue();
                    if (DETERMINISTIC.contains(field.getKey())) {
                        assertThat(got.get(field.getKey())).as("%s field %s", c.url(), field.getKey()).isEqualTo(field.getValue());
                    }
                }
            }
        }
    }

    private HttpResponse<String> run(Call c) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + c.url().replace("localhost:8080", "localhost:" + port)));
        for (String h : c.headers()) {
            int colon = h.indexOf(':');
            b.header(h.substring(0, colon).strip(), h.substring(colon + 1).strip());
        }
        b.method(c.method(), c.body() != null ? HttpRequest.BodyPublishers.ofString(c.body()) : HttpRequest.BodyPublishers.noBody());
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
