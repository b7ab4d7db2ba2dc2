package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** alloc_ordered_workqueue(): one item at a time, in queueing order. */
@Timeout(60)
class OrderedQueueTest {

    /** Records the order of execution and whether two items ever overlapped. */
    private static final class Recorder {
        final List<Integer> order = new ArrayList<>(); // guarded by itself
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final CountDownLatch done;

        Recorder(int n) {
            done = new CountDownLatch(n);
        }

        Work item(int id, Runnable body) {
            return new Work("ordered-" + id, () -> {
                if (running.incrementAndGet() != 1) {
                    overlaps.incrementAndGet();
                }
                synchronized (order) {
                    order.add(id);
                }
                body.run();
                Thread.yield(); // widen the window in which an overlap would show
                if (running.decrementAndGet() != 0) {
                    overlaps.incrementAndGet();
                }
                done.countDown();
            });
        }

        List<Integer> order() {
            synchronized (order) {
                return List.copyOf(order);
            }
        }
    }

    @Test
    void oneProducerThousandItemsRunInQueueingOrderOneAtATime() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.allocOrdered("ordered");
            assertThat(wq.isOrdered()).isTrue();
            assertThat(wq.isUnbound()).isTrue();
            assertThat(wq.maxActive()).isEqualTo(1);
            int n = 1000;
            Recorder r = new Recorder(n);
            for (int i = 0; i < n; i++) {
                assertThat(wq.queue(r.item(i, () -> { }))).isTrue();
            }
            await(r.done);
            assertThat(r.order()).containsExactlyElementsOf(IntStream.range(0, n).boxed().toList());
            assertThat(r.overlaps.get()).as("overlapping executions").isZero();
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> wq.stats().inFlight() == 0);
            assertThat(wq.stats().completed()).isEqualTo(n);
        }
    }

    @Test
    void fourProducersEachKeepTheirOrderAndItemsNeverOverlap() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.allocOrdered("ordered");
            int producers = 4;
            int perProducer = 250;
            Recorder r = new Recorder(producers * perProducer);
            CyclicBarrier start = new CyclicBarrier(producers);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                int producer = p;
                threads.add(Thread.ofPlatform().name("producer-" + p).start(() -> {
                    try {
                        start.await(30, SECONDS);
                        for (int i = 0; i < perProducer; i++) {
                            // the CPU is only a hint for an unbound queue: order must not depend on it
                            if (!wq.queueOn(i % 2, r.item(producer * perProducer + i, () -> { }))) {
                                throw new AssertionError("fresh item not queued");
                            }
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join(30_000);
            }
            assertThat(failure.get()).isNull();
            await(r.done);
            List<Integer> order = r.order();
            assertThat(order).hasSize(producers * perProducer).doesNotHaveDuplicates();
            for (int p = 0; p < producers; p++) {
                int producer = p;
                List<Integer> mine = order.stream().filter(id -> id / perProducer == producer).toList();
                assertThat(mine).as("items of producer %d in execution order", p)
                        .containsExactlyElementsOf(IntStream.range(0, perProducer).map(i -> producer * perProducer + i).boxed().toList());
            }
            assertThat(r.overlaps.get()).as("overlapping executions").isZero();
        }
    }

    @Test
    void sleepingItemsDoNotLetTheNextStartEarly() throws Exception {
        try (Workqueues e = Workqueues.builder().cpus(2).build()) {
            Workqueue wq = e.allocOrdered("ordered");
            int n = 60;
            Recorder r = new Recorder(n);
            for (int i = 0; i < n; i++) {
                Runnable body;
                if (i % 6 == 0) {
                    body = () -> sleep(5); // a blocking call, no hook
                } else if (i % 6 == 3) {
                    body = () -> {
                        try {
                            Workqueues.blocking(() -> Thread.sleep(5)); // a blocking call, with the hook
                        } catch (InterruptedException ex) {
                            Thread.currentThread().interrupt();
                        }
                    };
                } else {
                    body = () -> { };
                }
                wq.queue(r.item(i, body));
            }
            await(r.done);
            assertThat(r.order()).containsExactlyElementsOf(IntStream.range(0, n).boxed().toList());
            assertThat(r.overlaps.get()).as("overlapping executions").isZero();
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }
}
