package dev.cmwq.sample;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.PoolStats;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.annotation.DirtiesContext;

/**
 * The live page's stall banner with a real lockup: the per-CPU pool of CPU 0 runs an item that
 * blocks without the blocking hook while a second item waits behind it. With the sleep monitor off
 * ({@code workqueue.monitor-interval=0}) the pool never learns that its worker sleeps, so the
 * watchdog (threshold 1 s) reports the pool stalled; the page shows the banner from
 * {@code /actuator/health/workqueues} and marks the pool's row, and both go away once the blocker
 * is released.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "workqueue.cpus=2", "workqueue.watchdog.threshold=1s", "workqueue.monitor-interval=0",
        "spring.lifecycle.timeout-per-shutdown-phase=5s"})
@DirtiesContext
class LivePageStallBrowserTest {

    static final String CPU0_POOL = "cpus=0 flags=0x0 nice=0";

    @LocalServerPort
    int port;

    @Autowired
    Workqueues engine;

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

    @Test
    void theStallBannerShowsTheStuckPoolWhileItIsStuckAndGoesAwayWhenItRecovers() throws Exception {
        browser.driver.get("http://localhost:" + port + "/");
        browser.await("the first refresh", d -> "UP".equals(d.findElement(By.id("health")).getText()));
        WebElement banner = browser.driver.findElement(By.id("stall"));
        assertThat(banner.isDisplayed()).as("banner while UP").isFalse();

        PoolStats cpu0 = engine.pools().stream().filter(p -> p.kind().equals("cpu") && p.cpu() == 0).findFirst().orElseThrow();
        String row = "tr[data-pool='" + cpu0.id() + "']";
        assertThat(browser.driver.findElement(By.cssSelector(row)).getAttribute("data-stalled")).isEqualTo("false");

        CountDownLatch in = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch behindRan = new CountDownLatch(1);
        Workqueue systemWq = engine.systemWq();
        try {
            assertThat(systemWq.queueOn(0, new Work("page-stall-blocker", () -> {
                in.countDown();
                try {
                    release.await(120, SECONDS); // blocks without telling the pool: a lockup
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }))).isTrue();
            assertThat(in.await(30, SECONDS)).as("blocker started").isTrue();
            assertThat(systemWq.queueOn(0, new Work("page-stall-behind", behindRan::countDown))).isTrue();

            browser.await("the stall banner", d -> d.findElement(By.id("stall")).isDisplayed());
            WebElement stalled = browser.await("the stalled pool in the banner",
                    d -> d.findElements(By.cssSelector("#stall-list li[data-stalled-pool='" + CPU0_POOL + "']"))
                            .stream().findFirst().orElse(null));
            assertThat(stalled.getText()).startsWith("pool " + CPU0_POOL + " stuck for PT").endsWith("1 pending");
            assertThat(browser.driver.findElement(By.id("stall-title")).getText()).contains("Workqueue lockup: 1 pool stuck");
            assertThat(browser.driver.findElement(By.id("health")).getText()).isEqualTo("DOWN");
            browser.await("pool row marked stalled",
                    d -> "true".equals(d.findElement(By.cssSelector(row)).getAttribute("data-stalled")));
            assertThat(browser.driver.findElement(By.cssSelector(row + " td[data-col='pending']")).getText()).isEqualTo("1");
            browser.screenshot(Path.of("target", "live-page-stall.png"));
            assertThat(behindRan.getCount()).as("the item behind has not run").isEqualTo(1);
        } finally {
            release.countDown();
        }
        assertThat(behindRan.await(30, SECONDS)).as("the item behind ran after the release").isTrue();

        browser.await("the banner hidden again", d -> !d.findElement(By.id("stall")).isDisplayed());
        browser.await("health UP again", d -> "UP".equals(d.findElement(By.id("health")).getText()));
        browser.await("pool row no longer stalled",
                d -> "false".equals(d.findElement(By.cssSelector(row)).getAttribute("data-stalled")));
        assertThat(browser.driver.findElements(By.cssSelector("#stall-list li"))).isEmpty();
    }
}
