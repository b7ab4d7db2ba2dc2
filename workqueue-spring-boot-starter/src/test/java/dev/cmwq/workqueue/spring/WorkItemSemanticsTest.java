package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.PATIENCE;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.eventually;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.liveItems;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.spring.WorkItemTestSupport.Blocker;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;

/**
 * The kernel's work item semantics per (bean, method, arguments): absorbed while pending, once
 * more when called while running, never concurrent with itself; distinct keys are distinct items;
 * {@code coalesce = false} makes a fresh item per call; idle items are retired.
 */
class WorkItemSemanticsTest {

    /** Runs per key, read through methods (the bean is a class proxy). */
    static class Counter {
        private final ConcurrentHashMap<String, AtomicInteger> runs = new ConcurrentHashMap<>();

        private void count(String key) {
            runs.computeIfAbsent(String.valueOf(key), k -> new AtomicInteger()).incrementAndGet();
        }

        public int runs(String key) {
            AtomicInteger n = runs.get(key);
            return n == null ? 0 : n.get();
        }

        @WorkItem(queue = "serial")
        public boolean touch(String key) {
            count(key);
            return true;
        }

        @WorkItem(queue = "serial")
        public boolean take(int[] ids) {
            count(Arrays.toString(ids));
            return true;
        }

        @WorkItem(queue = "serial")
        public boolean nested(Object[] parts) {
            count(Arrays.deepToString(parts));
            return true;
        }

        @WorkItem(queue = "serial", coalesce = false)
        public boolean fresh(String key) {
            count(key);
            return true;
        }
    }

    /** Blocks every run on {@code release}; records how many runs overlap. */
    static class Slow {
        private final AtomicInteger runs = new AtomicInteger();
        private final AtomicInteger inFlight = new AtomicInteger();
        private final AtomicInteger maxInFlight = new AtomicInteger();
        private final CountDownLatch started = new CountDownLatch(1);
        private final CountDownLatch release = new CountDownLatch(1);

        @WorkItem(queue = "parallel")
        public boolean run(String key) {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                runs.incrementAndGet();
                started.countDown();
                WorkItemTestSupport.await(release);
                return true;
            } finally {
                inFlight.decrementAndGet();
            }
        }

        public int runs() {
            return runs.get();
        }

        public int maxInFlight() {
            return maxInFlight.get();
        }

        public void awaitStarted() {
            WorkItemTestSupport.await(started);
        }

        public void release() {
            release.countDown();
        }
    }

    /**
     * Each run takes one permit, given by a caller after each call: runs and calls interleave, so
     * many calls land while the item runs (and the "run once more" path is exercised), and a run
     * never starves (runs never outnumber calls).
     */
    static class Hammered {
        private final Semaphore permits = new Semaphore(0);
        private final AtomicInteger runs = new AtomicInteger();
        private final AtomicInteger inFlight = new AtomicInteger();
        private final AtomicInteger maxInFlight = new AtomicInteger();

        @WorkItem(queue = "parallel")
        public boolean hit(String key) {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                runs.incrementAndGet();
                if (!permits.tryAcquire(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
                    throw new IllegalStateException("no permit: more runs than calls");
                }
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } finally {
                inFlight.decrementAndGet();
            }
        }

        public void called() {
            permits.release();
        }

        public int runs() {
            return runs.get();
        }

        public int maxInFlight() {
            return maxInFlight.get();
        }
    }

    /** Runs of different keys (or of a non-coalescing method) meet at a barrier: proof that they overlap. */
    static class Meeting {
        private final CyclicBarrier pair = new CyclicBarrier(2);
        private final CyclicBarrier trio = new CyclicBarrier(3);
        private final AtomicInteger freshRuns = new AtomicInteger();

        @WorkItem(queue = "parallel")
        public CompletableFuture<String> meet(String who) throws Exception {
            pair.await(PATIENCE.toSeconds(), TimeUnit.SECONDS);
            return CompletableFuture.completedFuture(who);
        }

        @WorkItem(queue = "parallel", coalesce = false)
        public CompletableFuture<Integer> each(String key) throws Exception {
            trio.await(PATIENCE.toSeconds(), TimeUnit.SECONDS);
            return CompletableFuture.completedFuture(freshRuns.incrementAndGet());
        }
    }

    /**
     * The same body behind three ways of queueing: each run's future carries its run number, so the
     * callers' futures can be matched with the runs.
     */
    static class Stressed {
        private final AtomicInteger runs = new AtomicInteger();
        private final AtomicInteger inFlight = new AtomicInteger();
        private final AtomicInteger maxInFlight = new AtomicInteger();

        private CompletableFuture<Integer> enter() {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                int n = runs.incrementAndGet();
                Thread.yield(); // widen the window for callers that arrive while it runs
                return CompletableFuture.completedFuture(n);
            } finally {
                inFlight.decrementAndGet();
            }
        }

        @WorkItem(queue = "parallel")
        public CompletableFuture<Integer> plain(String key) {
            return enter();
        }

        @WorkItem(queue = "parallel", delay = "1ms")
        public CompletableFuture<Integer> delayed(String key) {
            return enter();
        }

        @WorkItem(queue = "parallel", delay = "1ms", debounce = true)
        public CompletableFuture<Integer> debounced(String key) {
            return enter();
        }

        public int runs() {
            return runs.get();
        }

        public int maxInFlight() {
            return maxInFlight.get();
        }
    }

    /** Re-queues itself through its own proxy while it runs, as kernel work functions do. */
    static class Chain {
        private final AtomicInteger runs = new AtomicInteger();
        private final List<Boolean> requeued = new CopyOnWriteArrayList<>();
        private Chain self;

        @Autowired
        void setSelf(@Lazy Chain self) {
            this.self = self;
        }

        @WorkItem(queue = "parallel")
        public boolean step(String key) {
            if (runs.incrementAndGet() < 3) {
                requeued.add(self.step(key));
            }
            return true;
        }

        public int runs() {
            return runs.get();
        }

        public List<Boolean> requeued() {
            return List.copyOf(requeued);
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Config {
        @Bean
        Chain chain() {
            return new Chain();
        }

        @Bean
        Stressed stressed() {
            return new Stressed();
        }

        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        Counter first() {
            return new Counter();
        }

        @Bean
        Counter second() {
            return new Counter();
        }

        @Bean
        Slow slow() {
            return new Slow();
        }

        @Bean
        Hammered hammered() {
            return new Hammered();
        }

        @Bean
        Meeting meeting() {
            return new Meeting();
        }
    }

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner().withUserConfiguration(Config.class);

    @Test
    void callsWhilePendingAreAbsorbed() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Counter c = ctx.getBean("first", Counter.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(c.touch("a")).as("first call queues").isTrue();
                assertThat(c.touch("a")).as("pending: absorbed").isFalse();
                assertThat(c.touch("a")).as("still pending: absorbed").isFalse();
                assertThat(liveItems(ctx)).as("the blocker and one item for touch(a)").isEqualTo(2);
                assertThat(c.runs("a")).as("pending behind the blocker").isZero();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(c.runs("a")).isEqualTo(1);
        });
    }

    @Test
    void callsWhileRunningQueueExactlyOneMoreRun() {
        runner.run(ctx -> {
            Slow s = ctx.getBean(Slow.class);
            assertThat(s.run("k")).isTrue();
            s.awaitStarted();
            int callers = 4;
            CyclicBarrier start = new CyclicBarrier(callers);
            ExecutorService pool = Executors.newFixedThreadPool(callers);
            List<Boolean> results = new ArrayList<>();
            try {
                List<Future<Boolean>> calls = new ArrayList<>();
                for (int i = 0; i < callers; i++) {
                    calls.add(pool.submit(() -> {
                        start.await(PATIENCE.toSeconds(), TimeUnit.SECONDS);
                        return s.run("k");
                    }));
                }
                for (Future<Boolean> f : calls) {
                    results.add(f.get(PATIENCE.toSeconds(), TimeUnit.SECONDS));
                }
                assertThat(s.runs()).as("the first run is still blocked").isEqualTo(1);
            } finally {
                s.release();
                pool.shutdownNow();
            }
            assertThat(results).as("one call queues the next run, the others find it pending")
                    .containsExactlyInAnyOrder(true, false, false, false);
            eventually().until(() -> liveItems(ctx) == 0 && s.runs() >= 2);
            assertThat(s.runs()).as("exactly once more").isEqualTo(2);
            assertThat(s.maxInFlight()).as("never concurrent with itself").isEqualTo(1);
        });
    }

    @Test
    void anItemThatQueuesItselfWhileRunningRunsAgain() {
        runner.run(ctx -> {
            Chain c = ctx.getBean(Chain.class);
            assertThat(c.step("k")).isTrue();
            eventually().until(() -> c.runs() >= 3 && liveItems(ctx) == 0);
            assertThat(c.runs()).isEqualTo(3);
            assertThat(c.requeued()).as("each call from its own run queues the next run").containsExactly(true, true);
        });
    }

    @Test
    void neverRunsConcurrentlyWithItselfUnderHammering() {
        runner.run(ctx -> {
            Hammered h = ctx.getBean(Hammered.class);
            int threads = 4;
            int callsEach = 300;
            CyclicBarrier start = new CyclicBarrier(threads);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            int queued = 0;
            int absorbed = 0;
            try {
                List<Future<int[]>> hammers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    hammers.add(pool.submit(() -> {
                        start.await(PATIENCE.toSeconds(), TimeUnit.SECONDS);
                        int[] trueFalse = new int[2];
                        for (int i = 0; i < callsEach; i++) {
                            trueFalse[h.hit("same") ? 0 : 1]++;
                            h.called();
                            Thread.yield(); // two cores: let the workers in between calls
                        }
                        return trueFalse;
                    }));
                }
                for (Future<int[]> f : hammers) {
                    int[] tf = f.get(PATIENCE.toSeconds() * 2, TimeUnit.SECONDS);
                    queued += tf[0];
                    absorbed += tf[1];
                }
            } finally {
                pool.shutdownNow();
            }
            System.out.printf("hammer: %d queued, %d absorbed%n", queued, absorbed);
            int q = queued;
            eventually().until(() -> liveItems(ctx) == 0 && h.runs() >= q);
            assertThat(queued + absorbed).isEqualTo(threads * callsEach);
            assertThat(queued).isPositive();
            assertThat(h.runs()).as("every true return is followed by exactly one run (%d absorbed)", absorbed)
                    .isEqualTo(queued);
            assertThat(h.maxInFlight()).as("never concurrent with itself").isEqualTo(1);
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "delayed", "debounced"})
    void everyFutureIsOneRunsUnderHammering(String mode) {
        runner.run(ctx -> {
            Stressed s = ctx.getBean(Stressed.class);
            int threads = 4;
            int callsEach = 1000;
            CyclicBarrier start = new CyclicBarrier(threads);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<CompletableFuture<Integer>> all = new ArrayList<>();
            try {
                List<Future<List<CompletableFuture<Integer>>>> hammers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    hammers.add(pool.submit(() -> {
                        start.await(PATIENCE.toSeconds(), TimeUnit.SECONDS);
                        List<CompletableFuture<Integer>> mine = new ArrayList<>(callsEach);
                        for (int i = 0; i < callsEach; i++) {
                            mine.add(switch (mode) {
                                case "plain" -> s.plain("k");
                                case "delayed" -> s.delayed("k");
                                default -> s.debounced("k");
                            });
                            Thread.yield(); // two cores: let the workers in between calls
                        }
                        return mine;
                    }));
                }
                for (Future<List<CompletableFuture<Integer>>> f : hammers) {
                    all.addAll(f.get(PATIENCE.toSeconds() * 2, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
            assertThat(all).hasSize(threads * callsEach).doesNotContainNull();
            assertThat(CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))).as("every caller's future completes")
                    .succeedsWithin(PATIENCE);
            eventually().until(() -> liveItems(ctx) == 0);
            Set<CompletableFuture<Integer>> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
            distinct.addAll(all);
            List<Integer> runNumbers = distinct.stream().map(CompletableFuture::join).sorted().toList();
            System.out.printf("%s: %d calls, %d runs%n", mode, all.size(), s.runs());
            assertThat(s.runs()).as("one run per distinct future").isEqualTo(distinct.size());
            assertThat(runNumbers).as("each run's future is handed out, none twice")
                    .isEqualTo(IntStream.rangeClosed(1, s.runs()).boxed().toList());
            assertThat(s.maxInFlight()).as("never concurrent with itself").isEqualTo(1);
        });
    }

    @Test
    void differentArgumentsAreDifferentItemsThatMayOverlap() {
        runner.run(ctx -> {
            Meeting m = ctx.getBean(Meeting.class);
            // Each run waits at a two-party barrier: both complete only if the two items run at once.
            CompletableFuture<String> a = m.meet("a");
            CompletableFuture<String> b = m.meet("b");
            assertThat(b).isNotSameAs(a);
            assertThat(a).succeedsWithin(PATIENCE).isEqualTo("a");
            assertThat(b).succeedsWithin(PATIENCE).isEqualTo("b");
            eventually().until(() -> liveItems(ctx) == 0);
        });
    }

    @Test
    void differentArgumentsQueueSeparatelyWhilePending() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Counter c = ctx.getBean("first", Counter.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(c.touch("a")).isTrue();
                assertThat(c.touch("b")).as("another argument: another item").isTrue();
                assertThat(c.touch("a")).isFalse();
                assertThat(c.touch("b")).isFalse();
                assertThat(c.touch(null)).as("null is an argument like any other").isTrue();
                assertThat(c.touch(null)).isFalse();
                assertThat(liveItems(ctx)).isEqualTo(4);
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(c.runs("a")).isEqualTo(1);
            assertThat(c.runs("b")).isEqualTo(1);
            assertThat(c.runs("null")).isEqualTo(1);
        });
    }

    @Test
    void arrayArgumentsAreComparedDeeply() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Counter c = ctx.getBean("first", Counter.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(c.take(new int[] {1, 2})).isTrue();
                assertThat(c.take(new int[] {1, 2})).as("another array, equal contents: the same item").isFalse();
                assertThat(c.take(new int[] {1, 3})).as("different contents: another item").isTrue();
                assertThat(c.nested(new Object[] {"x", new int[] {7}, new String[] {"y"}})).isTrue();
                assertThat(c.nested(new Object[] {"x", new int[] {7}, new String[] {"y"}}))
                        .as("nested arrays compared deeply").isFalse();
                assertThat(c.nested(new Object[] {"x", new int[] {8}, new String[] {"y"}})).isTrue();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(c.runs("[1, 2]")).isEqualTo(1);
            assertThat(c.runs("[1, 3]")).isEqualTo(1);
            assertThat(c.runs("[x, [7], [y]]")).isEqualTo(1);
            assertThat(c.runs("[x, [8], [y]]")).isEqualTo(1);
        });
    }

    @Test
    void twoBeansOfTheSameClassAreDifferentItems() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Counter first = ctx.getBean("first", Counter.class);
            Counter second = ctx.getBean("second", Counter.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(first.touch("k")).isTrue();
                assertThat(second.touch("k")).as("same method and arguments, another bean").isTrue();
                assertThat(first.touch("k")).isFalse();
                assertThat(second.touch("k")).isFalse();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(first.runs("k")).isEqualTo(1);
            assertThat(second.runs("k")).isEqualTo(1);
        });
    }

    @Test
    void withoutCoalescingEveryCallIsAFreshItem() {
        runner.run(ctx -> {
            Blocker blocker = ctx.getBean(Blocker.class);
            Counter c = ctx.getBean("first", Counter.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(c.fresh("k")).isTrue();
                assertThat(c.fresh("k")).as("pending, but not coalesced").isTrue();
                assertThat(c.fresh("k")).isTrue();
                assertThat(liveItems(ctx)).as("non-coalescing items are not tracked: only the blocker").isEqualTo(1);
            } finally {
                blocker.release();
            }
            eventually().until(() -> c.runs("k") >= 3 && liveItems(ctx) == 0);
            assertThat(c.runs("k")).isEqualTo(3);
        });
    }

    @Test
    void withoutCoalescingCallsWithEqualArgumentsMayOverlap() {
        runner.run(ctx -> {
            Meeting m = ctx.getBean(Meeting.class);
            // Three runs of the same key meet at a three-party barrier: they run at the same time.
            CompletableFuture<Integer> f1 = m.each("k");
            CompletableFuture<Integer> f2 = m.each("k");
            CompletableFuture<Integer> f3 = m.each("k");
            assertThat(List.of(f1, f2, f3)).doesNotHaveDuplicates();
            List<Integer> values = new ArrayList<>();
            for (CompletableFuture<Integer> f : List.of(f1, f2, f3)) {
                values.add(f.get(PATIENCE.toSeconds(), TimeUnit.SECONDS));
            }
            assertThat(values).containsExactlyInAnyOrder(1, 2, 3);
            assertThat(liveItems(ctx)).isZero();
        });
    }

    @Test
    void idleItemsAreRetired() {
        runner.run(ctx -> {
            Counter c = ctx.getBean("first", Counter.class);
            int keys = 200;
            for (int i = 0; i < keys; i++) {
                assertThat(c.touch("key-" + i)).isTrue();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            for (int i = 0; i < keys; i++) {
                assertThat(c.runs("key-" + i)).as("key-%d", i).isEqualTo(1);
            }
            // A retired key is a new item next time: it queues (true) and runs again.
            assertThat(c.touch("key-0")).isTrue();
            eventually().until(() -> c.runs("key-0") == 2);
            eventually().until(() -> liveItems(ctx) == 0);
        });
    }
}
