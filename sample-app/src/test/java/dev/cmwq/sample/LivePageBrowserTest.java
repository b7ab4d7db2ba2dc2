package dev.cmwq.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The live page at {@code /} in a real browser (headless Chromium): it shows the workqueues and
 * pools as {@code wq_monitor.py} does and follows real work through its one-second refresh.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "spring.lifecycle.timeout-per-shutdown-phase=5s"})
class LivePageBrowserTest {

    static final Path SCREENSHOT = Path.of("target", "live-page.png");

    @LocalServerPort
    int port;

    Browser browser;

    @BeforeEach
    void openBrowser() {
        browser = Browser.open();
    }

    @AfterEach
    void closeBrowser() {
        if (browser != null) {
            browser.close();
        }
    }

    static By queueCell(String queue, String col) {
        return By.cssSelector("tr[data-queue='" + queue + "'] td[data-col='" + col + "']");
    }

    static By poolCell(String pool, String col) {
        return By.cssSelector("tr[data-pool='" + pool + "'] td[data-col='" + col + "']");
    }

    static long number(WebElement cell) {
        return Long.parseLong(cell.getText().strip());
    }

    @Test
    void showsTheQueuesAndPoolsAndFollowsRealWorkThroughTheRefresh() throws Exception {
        browser.driver.get("http://localhost:" + port + "/");
        assertThat(browser.driver.getTitle()).contains("workqueue monitor");

        // the first refresh fills the tables
        browser.await("queue rows for writeback and downstream",
                d -> !d.findElements(By.cssSelector("tr[data-queue='writeback']")).isEmpty()
                        && !d.findElements(By.cssSelector("tr[data-queue='downstream']")).isEmpty());
        List<String> headers = browser.driver.findElements(By.cssSelector("#queues thead th")).stream()
                .map(WebElement::getText).toList();
        assertThat(headers).containsSubsequence("total", "infl", "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued");
        assertThat(browser.driver.findElements(By.cssSelector("tr[data-queue='events']"))).as("system_wq row").hasSize(1);
        assertThat(browser.driver.findElement(queueCell("writeback", "flags")).getText()).contains("WQ_UNBOUND");

        // the engine line and the pools: 2 CPUs, per-CPU pools 0.. and an unbound one
        String engineLine = browser.driver.findElement(By.id("engine")).getText();
        assertThat(engineLine).contains("cpus: 2").contains("placement:").contains("unbound cpumask: 0-1");
        assertThat(browser.driver.findElements(By.cssSelector("#pool-rows tr[data-pool]"))).hasSizeGreaterThanOrEqualTo(5);
        assertThat(browser.driver.findElement(poolCell("0", "kind")).getText()).isEqualTo("cpu");
        assertThat(browser.driver.findElement(poolCell("0", "cpu")).getText()).isEqualTo("0");
        assertThat(number(browser.driver.findElement(poolCell("0", "workers")))).isGreaterThanOrEqualTo(1);
        for (String col : List.of("idle", "running", "pending")) {
            assertThat(browser.driver.findElement(poolCell("0", col)).getText()).as("pool 0 %s", col).matches("\\d+");
        }
        assertThat(browser.driver.findElement(By.id("health")).getText()).isEqualTo("UP");
        assertThat(browser.driver.findElement(By.id("stall")).isDisplayed()).as("stall banner while UP").isFalse();
        assertThat(browser.driver.findElement(By.id("updated")).getText()).startsWith("last updated:");

        long before = number(browser.driver.findElement(queueCell("writeback", "total")));
        assertThat(before).isZero();

        // real work through the app's API; the page has to see it on a later refresh
        String body = post("/api/writeback?pages=50");
        assertThat(body).contains("\"queued\":50");
        post("/api/fetch?count=4");
        browser.await("writeback total >= 50 on the page",
                d -> number(d.findElement(queueCell("writeback", "total"))) >= 50);
        browser.await("downstream total >= 4 on the page",
                d -> number(d.findElement(queueCell("downstream", "total"))) >= 4);
        // once the burst is over, the refresh shows it finished: nothing in flight
        browser.await("writeback infl back to 0", d -> number(d.findElement(queueCell("writeback", "infl"))) == 0);
        assertThat(browser.driver.findElement(queueCell("writeback", "rate")).getText()).matches("-|\\d+\\.\\d");
        assertThat(browser.driver.findElement(queueCell("writeback", "cmw-rpr")).getText()).matches("\\d+/\\d+");

        // the "last updated" stamp moves: the page keeps refreshing
        String stamp = browser.driver.findElement(By.id("updated")).getAttribute("data-updated");
        browser.await("a newer refresh", d -> !stamp.equals(d.findElement(By.id("updated")).getAttribute("data-updated")));

        BufferedImage img = browser.screenshot(SCREENSHOT);
        assertThat(img.getWidth()).isGreaterThanOrEqualTo(1000);
    }

    String post(String path) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("POST %s: %s", path, r.body()).isEqualTo(200);
            return r.body();
        }
    }
}
