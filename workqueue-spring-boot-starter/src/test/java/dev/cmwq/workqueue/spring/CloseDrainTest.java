package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.LifecycleTest.awaitQuietly;
import static dev.cmwq.workqueue.spring.LifecycleTest.runAsync;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.cmwq.workqueue.DelayedWork;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.ContextClosedEvent;

/**
 * Context close drains the engine: everything queued before (delayed items included, their timers
 * fire at once) and the follow-ups running items queue during the drain run before close returns;
 * afterwards queueing is refused loudly. An item that can't finish within
 * {@code spring.lifecycle.timeout-per-shutdown-phase} is named in the log.
 */
class CloseDrainTest {

    private static final Duration LIMIT = Duration.ofSeconds(30);

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
            .withPropertyValues("workqueue.cpus=2", "workqueue.queues.batch.flags=unbound", "workqueue.queues.fz.flags=freezable")
            .withUserConfiguration(Config.class);

    private Logger engineLogger;
    private ListAppender<ILoggingEvent> engineLog;
    private Logger lifecycleLogger;
    private ListAppender<ILoggingEvent> lifecycleLog;

    @BeforeEach
    void captureEngineLog() {
        engineLogger = (Logger) LoggerFactory.getLogger(Workqueues.class);
        engineLog = new ListAppender<>();
        engineLog.start();
        engineLogger.addAppender(engineLog);
        lifecycleLogger = (Logger) LoggerFactory.getLogger(WorkqueuesLifecycle.class);
        lifecycleLog = new ListAppender<>();
        lifecycleLog.start();
        lifecycleLogger.addAppender(lifecycleLog);
    }

    @AfterEach
    void releaseEngineLog() {
        engineLogger.detachAppender(engineLog);
        lifecycleLogger.detachAppender(lifecycleLog);
        lifecycleLog.stop();
        engineLog.stop();
    }

    /** A bean with {@link WorkItem} methods; state read through methods (the bean is a class proxy). */
    public static class Jobs {
        private final AtomicInteger later = new AtomicInteger();
        private final AtomicInteger now = new AtomicInteger();
        private final AtomicInteger blocked = new AtomicInteger();
        private final CountDownLatch blockStarted = new CountDownLatch(1);
        private final CountDownLatch blockRelease = new CountDownLatch(1);

        @WorkItem(queue = "system_wq", delay = "1h")
        public void later(String what) {
            later.incrementAndGet();
        }

        @WorkItem(queue = "batch")
        public void now(int n) {
            now.incrementAndGet();
        }

        @WorkItem(queue = "batch")
        public void block(int n) {
            blockStarted.countDown();
            awaitQuietly(blockRelease);
            blocked.incrementAndGet();
        }

        public int laterRuns() {
            return later.get();
        }

        public int nowRuns() {
            return now.get();
        }

        public int blockedRuns() {
            return blocked.get();
        }

        public boolean awaitBlockStarted() throws InterruptedException {
            return blockStarted.await(LIMIT.toSeconds(), TimeUnit.SECONDS);
        }

        public void releaseBlock() {
            blockRelease.countDown();
        }
    }

    /** Counts down once the context's ContextClosedEvent is published (close has begun). */
    public static class ClosingProbe implements ApplicationListener<ContextClosedEvent> {
        private final CountDownLatch closing = new CountDownLatch(1);

        @Override
        public void onApplicationEvent(ContextClosedEvent event) {
            closing.countDown();
        }

        public boolean isClosing() {
            return closing.getCount() == 0;
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Jobs jobs() {
            return new Jobs();
        }

        @Bean
        ClosingProbe closingProbe() {
            return new ClosingProbe();
        }
    }

    @Test
    void closeRunsEverythingQueuedBeforeAndChainedDuringIt() {
        runner.run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueues engine = ctx.getBean(Workqueues.class);
            Workqueue systemWq = ctx.getBean("system_wq", Workqueue.class);
            Workqueue unboundWq = ctx.getBean("system_unbound_wq", Workqueue.class);
            Workqueue jobsWq = ctx.getBean("batch", Workqueue.class);
            Jobs jobs = ctx.getBean(Jobs.class);

            // Plain items on several queues, held back until close has begun so that they are
            // certainly still queued (or running) when the drain starts.
            CountDownLatch closeBegan = new CountDownLatch(1);
            AtomicInteger plainRuns = new AtomicInteger();
            Runnable plain = () -> {
                awaitQuietly(closeBegan);
                plainRuns.incrementAndGet();
            };
            systemWq.queue(new Work("plain-system", plain));
            unboundWq.queue(new Work("plain-unbound", plain));
            jobsWq.queue(new Work("plain-jobs", plain));

            // A delayed item armed for an hour: its timer fires at close.
            AtomicInteger delayedRuns = new AtomicInteger();
            DelayedWork inAnHour = new DelayedWork("in-an-hour", delayedRuns::incrementAndGet);
            assertThat(systemWq.queueDelayed(inAnHour, Duration.ofHours(1))).isTrue();
            // @WorkItem with delay = "1h", twice with other arguments, and a plain @WorkItem.
            jobs.later("a");
            jobs.later("b");
            jobs.now(1);

            // A chain: an item on 'batch' (checked late in a drain pass) that, once the engine is
            // shutting down, queues a follow-up on system_wq (checked early) and on itself.
            AtomicInteger followUps = new AtomicInteger();
            AtomicReference<Throwable> chainFailure = new AtomicReference<>();
            CountDownLatch chainStarted = new CountDownLatch(1);
            jobsWq.queue(new Work("chain-head", () -> {
                chainStarted.countDown();
                try {
                    await().atMost(LIMIT).until(engine::isShutdown);
                    systemWq.queue(new Work("follow-up-system", () -> {
                        followUps.incrementAndGet();
                        jobsWq.queue(new Work("follow-up-of-follow-up", followUps::incrementAndGet));
                    }));
                    unboundWq.queue(new Work("follow-up-unbound", followUps::incrementAndGet));
                } catch (Throwable t) {
                    chainFailure.set(t);
                }
            }));
            assertThat(chainStarted.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            // Nothing of the delayed work ran yet.
            assertThat(inAnHour.isPending()).isTrue();
            assertThat(delayedRuns).hasValue(0);
            assertThat(jobs.laterRuns()).isZero();

            ClosingProbe probe = ctx.getBean(ClosingProbe.class);
            CompletableFuture<Void> closing = runAsync(ctx::close);
            await().atMost(LIMIT).until(probe::isClosing);
            closeBegan.countDown();
            closing.get(LIMIT.toSeconds() * 2, TimeUnit.SECONDS);

            // Everything ran before close returned.
            assertThat(chainFailure.get()).as("the chain could queue its follow-ups during the drain").isNull();
            assertThat(plainRuns).hasValue(3);
            assertThat(delayedRuns).as("the 1h delayed item fired at close").hasValue(1);
            assertThat(jobs.laterRuns()).as("the @WorkItem(delay = 1h) calls ran at close").isEqualTo(2);
            assertThat(jobs.nowRuns()).isEqualTo(1);
            assertThat(followUps).as("follow-ups queued during the drain ran").hasValue(3);
            assertThat(engine.isShutdown()).isTrue();
            assertThat(engineLog.list).extracting(ILoggingEvent::getFormattedMessage)
                    .noneMatch(m -> m.contains("unfinished"));

            // After close, queueing is refused loudly.
            assertThatThrownBy(() -> systemWq.queue(new Work("too-late", () -> { })))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("too-late");
            assertThatThrownBy(() -> jobsWq.queueDelayed(new DelayedWork("too-late-delayed", () -> { }), Duration.ofSeconds(1)))
                    .isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> jobs.now(2)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> jobs.later("c")).isInstanceOf(IllegalStateException.class);
            // Equal arguments to an item that already ran: refused too, not absorbed.
            assertThatThrownBy(() -> jobs.later("a")).isInstanceOf(IllegalStateException.class);
            assertThat(jobs.nowRuns()).isEqualTo(1);
            assertThat(jobs.laterRuns()).isEqualTo(2);
        });
    }

    @Test
    void closeDrainsFrozenQueuesOfAStoppedContext() {
        runner.run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueues engine = ctx.getBean(Workqueues.class);
            Workqueue fz = ctx.getBean("fz", Workqueue.class);
            ctx.stop();
            assertThat(engine.isFrozen()).isTrue();
            AtomicInteger ran = new AtomicInteger();
            fz.queue(new Work("held-at-close", ran::incrementAndGet));
            ctx.close();
            assertThat(ran).as("an item held by the freeze runs at close; nothing dropped").hasValue(1);
            assertThat(engine.isShutdown()).isTrue();
        });
    }

    @Test
    void frozenItemsOfARunningContextAreDrainedAtClose() {
        runner.run(ctx -> {
            Workqueues engine = ctx.getBean(Workqueues.class);
            Workqueue fz = ctx.getBean("fz", Workqueue.class);
            ctx.stop();
            AtomicInteger ran = new AtomicInteger();
            fz.queue(new Work("held", ran::incrementAndGet));
            ctx.start();
            ctx.stop();
            // Context restarted and stopped again, then closed.
            ctx.start();
            ctx.close();
            assertThat(ran).hasValue(1);
            assertThat(engine.isShutdown()).isTrue();
        });
    }

    @Test
    void anItemThatCannotFinishInTimeIsNamedInTheLog() {
        runner.withPropertyValues("spring.lifecycle.timeout-per-shutdown-phase=1s").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueue batch = ctx.getBean("batch", Workqueue.class);
            Workqueue systemWq = ctx.getBean("system_wq", Workqueue.class);
            Jobs jobs = ctx.getBean(Jobs.class);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(1);
            // Once the lifecycle has given up (after the engine named the leftovers), let the stuck
            // items go, so that the rest of close() does not wait for their threads (see
            // closeAfterATimedOutDrainDoesNotWaitAgainForStuckThreads for that).
            LogProbe releaseOnGiveUp = LogProbe.attach(WorkqueuesLifecycle.class.getName(), m -> m.contains("did not drain within"), () -> {
                release.countDown();
                jobs.releaseBlock();
            });
            try {
                batch.queue(new Work("stuck-item", () -> {
                    started.countDown();
                    awaitQuietly(release);
                }));
                jobs.block(7);
                assertThat(started.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
                assertThat(jobs.awaitBlockStarted()).isTrue();
                // Something that does finish, delayed for an hour: it still runs.
                AtomicInteger quick = new AtomicInteger();
                systemWq.queueDelayed(new DelayedWork("quick-delayed", quick::incrementAndGet), Duration.ofHours(1));

                long t0 = System.nanoTime();
                ctx.close();
                Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);

                assertThat(elapsed).as("close waited for the timeout").isGreaterThanOrEqualTo(Duration.ofMillis(950));
                assertThat(releaseOnGiveUp.fired()).as("the lifecycle reported the timeout").isTrue();
                assertThat(quick).hasValue(1);
                List<String> warnings = warnings();
                assertThat(warnings).anySatisfy(m -> assertThat(m)
                        .contains("shutdown of engine 'cmwq' left 2 work items unfinished")
                        .contains("batch: stuck-item (running on")
                        .contains("batch: Jobs.block(7) (running on"));
                assertThat(warnings).as("the drain used spring.lifecycle.timeout-per-shutdown-phase")
                        .anySatisfy(m -> assertThat(m).contains("threads still running after PT1S"));
                assertThatThrownBy(() -> jobs.now(3)).isInstanceOf(IllegalStateException.class);
                assertThatThrownBy(() -> batch.queue(new Work("after", () -> { }))).isInstanceOf(IllegalStateException.class);
            } finally {
                releaseOnGiveUp.detach();
                release.countDown();
                jobs.releaseBlock();
            }
        });
    }

    /** A pending item that can't start in time (its queue's only slot is taken) is named as well. */
    @Test
    void aQueuedItemThatCannotStartInTimeIsNamedInTheLog() {
        runner.withPropertyValues("spring.lifecycle.timeout-per-shutdown-phase=1s", "workqueue.queues.narrow.max-active=1",
                "workqueue.queues.narrow.flags=unbound").run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Workqueue narrow = ctx.getBean("narrow", Workqueue.class);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(1);
            LogProbe releaseOnGiveUp = LogProbe.attach(WorkqueuesLifecycle.class.getName(), m -> m.contains("did not drain within"), release::countDown);
            AtomicInteger waitingRuns = new AtomicInteger();
            try {
                narrow.queue(new Work("occupant", () -> {
                    started.countDown();
                    awaitQuietly(release);
                }));
                assertThat(started.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
                narrow.queue(new Work("waiting-behind", waitingRuns::incrementAndGet));
                ctx.close();
                assertThat(warnings()).anySatisfy(m -> assertThat(m)
                        .contains("left 2 work items unfinished")
                        .contains("narrow: occupant (running on")
                        .contains("narrow: waiting-behind ("));
                // Nothing silently: the waiting item never ran, and the log said so.
                assertThat(waitingRuns).hasValue(0);
            } finally {
                releaseOnGiveUp.detach();
                release.countDown();
            }
        });
    }
    @Test
    void closeAfterATimedOutDrainDoesNotWaitAgainForStuckThreads() {
        runner.withPropertyValues("spring.lifecycle.timeout-per-shutdown-phase=1s").run(ctx -> {
            Workqueue batch = ctx.getBean("batch", Workqueue.class);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(1);
            try {
                batch.queue(new Work("stuck-item", () -> {
                    started.countDown();
                    awaitQuietly(release);
                }));
                assertThat(started.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
                ctx.close();
                // Only one wait, with the configured timeout: no shutdown with another timeout.
                assertThat(warnings()).filteredOn(m -> m.contains("threads still running after"))
                        .isNotEmpty()
                        .allSatisfy(m -> assertThat(m).contains("after PT1S"));
            } finally {
                release.countDown();
            }
        });
    }
    @Test
    void closeOfAStoppedContextDrainsWithinTheShutdownPhaseTimeout() {
        runner.withPropertyValues("spring.lifecycle.timeout-per-shutdown-phase=1s").run(ctx -> {
            Workqueue batch = ctx.getBean("batch", Workqueue.class);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(1);
            // Release the stuck item as soon as the engine has named it, whoever gave up.
            LogProbe releaseWhenNamed = LogProbe.attach(Workqueues.class.getName(), m -> m.contains("unfinished"), release::countDown);
            try {
                batch.queue(new Work("stuck-item", () -> {
                    started.countDown();
                    awaitQuietly(release);
                }));
                assertThat(started.await(LIMIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
                ctx.stop();
                ctx.close();
                assertThat(releaseWhenNamed.fired()).isTrue();
                assertThat(warnings()).anySatisfy(m -> assertThat(m).contains("batch: stuck-item"));
                assertThat(lifecycleLog.list.stream().map(ILoggingEvent::getFormattedMessage))
                        .as("the drain used spring.lifecycle.timeout-per-shutdown-phase")
                        .anySatisfy(m -> assertThat(m).contains("did not drain within PT1S"));
            } finally {
                releaseWhenNamed.detach();
                release.countDown();
            }
        });
    }

    private List<String> warnings() {
        return engineLog.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage).toList();
    }
}
