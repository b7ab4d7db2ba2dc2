package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * max_active: the default and the clamping (with the kernel's warning), the per-CPU limit of bound
 * queues, the per-queue limit of unbound ones, the inactive list's order, and changing it at run
 * time.
 */
@Timeout(60)
class MaxActiveTest {

    /** Items that record their start and then wait on their own latch. */
    private static final class Items {
        final List<Integer> startOrder = new CopyOnWriteArrayList<>();
        final java.util.concurrent.atomic.AtomicReferenceArray<String> threadNames;
        final List<CountDownLatch> started = new ArrayList<>();
        final List<CountDownLatch> release = new ArrayList<>();
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger maxRunning = new AtomicInteger();
        final CountDownLatch done;
        final Work[] works;

        /** @param hook wait inside the explicit blocking hook (so concurrency management never holds them back) */
        Items(int n, boolean hook) {
            done = new CountDownLatch(n);
            threadNames = new java.util.concurrent.atomic.AtomicReferenceArray<>(n);
            works = new Work[n];
            for (int i = 0; i < n; i++) {
                int idx = i;
                started.add(new CountDownLatch(1));
                release.add(new CountDownLatch(1));
                works[i] = new Work("item-" + i, () -> {
                    maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                    startOrder.add(idx);
                    threadNames.set(idx, Thread.currentThread().getName());
                    started.get(idx).countDown();
                    if (hook) {
                        TestWaits.hookWait(release.get(idx));
                    } else {
                        TestWaits.plainWait(release.get(idx));
                    }
                    running.decrementAndGet();
                    done.countDown();
                });
            }
        }

        boolean hasStarted(int i) {
            return started.get(i).getCount() == 0;
        }

        void releaseAll() {
            release.forEach(CountDownLatch::countDown);
        }
    }

    private static void withWarnings(Consumer<List<ILoggingEvent>> body) {
        Logger logger = (Logger) LoggerFactory.getLogger(Workqueues.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try {
            body.accept(appender.list);
        } finally {
            logger.detachAppender(appender);
            appender.stop();
        }
    }

    private static List<String> warningsAbout(List<ILoggingEvent> events, String wqName) {
        List<String> out = new ArrayList<>();
        synchronized (events) {
            for (ILoggingEvent ev : events) {
                if (ev.getLevel() == Level.WARN && ev.getFormattedMessage().contains(" for " + wqName + " ")) {
                    out.add(ev.getFormattedMessage());
                }
            }
        }
        return out;
    }

    @Test
    void zeroMeansDefaultAndOutOfRangeValuesAreClampedWithTheKernelWarning() {
        withWarnings(events -> {
            try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
                assertThat(e.alloc("dfl", 0).maxActive()).isEqualTo(256);
                assertThat(e.alloc("dfl-unbound", 0, WqFlag.UNBOUND).maxActive()).isEqualTo(256);
                assertThat(e.alloc("exact", 512).maxActive()).isEqualTo(512);
                assertThat(e.alloc("one", 1).maxActive()).isEqualTo(1);
                assertThat(warningsAbout(events, "dfl")).isEmpty();
                assertThat(warningsAbout(events, "dfl-unbound")).isEmpty();
                assertThat(warningsAbout(events, "exact")).isEmpty();
                assertThat(warningsAbout(events, "one")).isEmpty();

                assertThat(e.alloc("big", 1000).maxActive()).isEqualTo(512);
                assertThat(warningsAbout(events, "big")).containsExactly(
                        "workqueue: max_active 1000 requested for big is out of range, clamping between 1 and 512");

                assertThat(e.unboundMaxActiveLimit()).isEqualTo(512);
                assertThat(e.alloc("big-unbound", 1000, WqFlag.UNBOUND).maxActive()).isEqualTo(512);
                assertThat(warningsAbout(events, "big-unbound")).containsExactly(
                        "workqueue: max_active 1000 requested for big-unbound is out of range, clamping between 1 and 512");

                assertThat(e.alloc("negative", -3).maxActive()).isEqualTo(1);
                assertThat(warningsAbout(events, "negative")).containsExactly(
                        "workqueue: max_active -3 requested for negative is out of range, clamping between 1 and 512");

                Workqueue later = e.alloc("later", 4);
                later.setMaxActive(513);
                assertThat(later.maxActive()).isEqualTo(512);
                assertThat(warningsAbout(events, "later")).containsExactly(
                        "workqueue: max_active 513 requested for later is out of range, clamping between 1 and 512");
                later.setMaxActive(0);
                assertThat(later.maxActive()).isEqualTo(256);
                assertThat(warningsAbout(events, "later")).hasSize(1);
            }
        });
    }

    @Test
    void unboundLimitIsFourPerCpuOnLargeMachines() {
        withWarnings(events -> {
            // 130 CPUs: WQ_UNBOUND_MAX_ACTIVE = max(512, 4 * 130) = 520; bound queues stay at 512.
            try (Workqueues e = Workqueues.builder().cpus(130).monitorInterval(Duration.ZERO).build()) {
                assertThat(e.unboundMaxActiveLimit()).isEqualTo(520);
                assertThat(e.alloc("wide", 520, WqFlag.UNBOUND).maxActive()).isEqualTo(520);
                assertThat(warningsAbout(events, "wide")).isEmpty();
                assertThat(e.alloc("wider", 1000, WqFlag.UNBOUND).maxActive()).isEqualTo(520);
                assertThat(warningsAbout(events, "wider")).containsExactly(
                        "workqueue: max_active 1000 requested for wider is out of range, clamping between 1 and 520");
                assertThat(e.alloc("bound", 520).maxActive()).isEqualTo(512);
                assertThat(warningsAbout(events, "bound")).containsExactly(
                        "workqueue: max_active 520 requested for bound is out of range, clamping between 1 and 512");
            }
        });
    }

    @Test
    void boundMaxActiveLimitsActiveItemsAndActivatesInactiveOnesInQueueingOrder() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("ma2", 2);
            int n = 6;
            Items items = new Items(n, true); // hooked: concurrency management would let them all run
            try {
                for (Work w : items.works) {
                    assertThat(wq.queue(w)).isTrue();
                }
                await(items.started.get(0));
                await(items.started.get(1));
                WorkqueueStats s = wq.stats();
                assertThat(s.active()).isEqualTo(2);
                assertThat(s.inactive()).isEqualTo(4);
                assertThat(s.inFlight()).isEqualTo(6);
                for (int i = 2; i < n; i++) {
                    assertThat(items.hasStarted(i)).as("item %d started", i).isFalse();
                }

                // Whichever active item finishes, the oldest inactive one is activated next.
                items.release.get(1).countDown();
                await(items.started.get(2));
                assertThat(wq.stats().inactive()).isEqualTo(3);
                assertThat(items.hasStarted(3)).isFalse();

                items.release.get(0).countDown();
                await(items.started.get(3));
                assertThat(wq.stats().inactive()).isEqualTo(2);

                items.release.get(3).countDown();
                await(items.started.get(4));
                items.release.get(2).countDown();
                await(items.started.get(5));
                assertThat(wq.stats().inactive()).isZero();
                assertThat(wq.stats().active()).isEqualTo(2);
            } finally {
                items.releaseAll();
            }
            await(items.done);
            assertThat(items.startOrder).containsExactly(0, 1, 2, 3, 4, 5);
            assertThat(items.maxRunning.get()).isEqualTo(2);
            await().until(() -> wq.stats().inFlight() == 0);
            assertThat(wq.stats().active()).isZero();
        }
    }

    @Test
    void unboundMaxActiveLimitsTheWholeQueue() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.alloc("ma3", 3, WqFlag.UNBOUND);
            int n = 6;
            Items items = new Items(n, false);
            try {
                for (Work w : items.works) {
                    assertThat(wq.queue(w)).isTrue();
                }
                for (int i = 0; i < 3; i++) {
                    await(items.started.get(i));
                }
                assertThat(items.running.get()).isEqualTo(3);
                assertThat(wq.stats().active()).isEqualTo(3);
                assertThat(wq.stats().inactive()).isEqualTo(3);
                for (int i = 3; i < n; i++) {
                    assertThat(items.hasStarted(i)).as("item %d started", i).isFalse();
                }

                items.release.get(0).countDown();
                await(items.started.get(3));
                assertThat(items.hasStarted(4)).isFalse();
                assertThat(wq.stats().inactive()).isEqualTo(2);
                items.release.get(2).countDown();
                await(items.started.get(4));
                assertThat(items.hasStarted(5)).isFalse();
                items.release.get(1).countDown();
                await(items.started.get(5));
            } finally {
                items.releaseAll();
            }
            await(items.done);
            // 0, 1, 2 start at once on three workers, whose threads race to the function's first
            // line; the inactive ones are activated strictly in queueing order.
            assertThat(items.startOrder.subList(0, 3)).containsExactlyInAnyOrder(0, 1, 2);
            assertThat(items.startOrder.subList(3, 6)).containsExactly(3, 4, 5);
            assertThat(items.maxRunning.get()).isEqualTo(3);
        }
    }

    @Test
    void boundMaxActiveAppliesPerCpu() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("percpu", 1);
            Items items = new Items(4, false);
            try {
                assertThat(wq.queueOn(0, items.works[0])).isTrue();
                assertThat(wq.queueOn(1, items.works[1])).isTrue();
                assertThat(wq.queueOn(0, items.works[2])).isTrue();
                assertThat(wq.queueOn(1, items.works[3])).isTrue();
                await(items.started.get(0));
                await(items.started.get(1));
                assertThat(items.running.get()).as("one item per CPU runs at the same time").isEqualTo(2);
                assertThat(wq.stats().active()).isEqualTo(2);
                assertThat(wq.stats().inactive()).isEqualTo(2);
                assertThat(items.hasStarted(2)).isFalse();
                assertThat(items.hasStarted(3)).isFalse();

                items.release.get(0).countDown(); // frees CPU 0's slot only
                await(items.started.get(2));
                assertThat(items.hasStarted(3)).isFalse();
                items.release.get(1).countDown();
                await(items.started.get(3));
            } finally {
                items.releaseAll();
            }
            await(items.done);
            for (int i = 0; i < 4; i++) {
                assertThat(items.threadNames.get(i)).as("thread of item %d", i).startsWith("kworker/" + (i % 2) + ":");
            }
        }
    }

    @Test
    void setMaxActiveStartsWaitingItemsAndIsRefusedForOrderedQueues() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).build()) {
            Workqueue wq = e.alloc("grow", 1);
            Items items = new Items(5, true);
            try {
                for (Work w : items.works) {
                    wq.queue(w);
                }
                await(items.started.get(0));
                assertThat(wq.stats().inactive()).isEqualTo(4);

                wq.setMaxActive(3);
                assertThat(wq.maxActive()).isEqualTo(3);
                await(items.started.get(1));
                await(items.started.get(2));
                assertThat(wq.stats().active()).isEqualTo(3);
                assertThat(wq.stats().inactive()).isEqualTo(2);
                assertThat(items.hasStarted(3)).isFalse();

                // Lowering the limit stops nothing that runs; it only holds back further activations.
                wq.setMaxActive(1);
                items.release.get(0).countDown();
                items.release.get(1).countDown();
                await().until(() -> wq.stats().active() == 1);
                assertThat(items.hasStarted(3)).isFalse();
                assertThat(wq.stats().inactive()).isEqualTo(2);
                items.release.get(2).countDown();
                await(items.started.get(3));
                assertThat(items.hasStarted(4)).isFalse();

                wq.setMaxActive(0); // the default, 256
                assertThat(wq.maxActive()).isEqualTo(256);
                await(items.started.get(4));
            } finally {
                items.releaseAll();
            }
            await(items.done);
            assertThat(items.startOrder).containsExactly(0, 1, 2, 3, 4);

            Workqueue ordered = e.allocOrdered("strict-order");
            assertThatThrownBy(() -> ordered.setMaxActive(4))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("strict-order");
            assertThat(ordered.maxActive()).isEqualTo(1);
        }
    }
}
