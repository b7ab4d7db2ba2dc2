package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;
import jdk.jfr.FlightRecorder;
import jdk.jfr.RecordingState;
import jdk.jfr.ValueDescriptor;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingStream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The kernel's four workqueue tracepoints as JFR events, read back with a {@link RecordingStream}:
 * every item produces queue_work, activate_work, execute_start and execute_end, in that order,
 * with the kernel's fields.
 */
@Timeout(60)
class JfrTest {
    static final String QUEUE = "cmwq.workqueue_queue_work";
    static final String ACTIVATE = "cmwq.workqueue_activate_work";
    static final String START = "cmwq.workqueue_execute_start";
    static final String END = "cmwq.workqueue_execute_end";
    static final List<String> ALL = List.of(QUEUE, ACTIVATE, START, END);

    /** A field by the kernel's name: the field's name or, failing that, its label. */
    private static ValueDescriptor field(RecordedEvent e, String kernelName) {
        for (ValueDescriptor d : e.getFields()) {
            if (d.getName().equals(kernelName)) {
                return d;
            }
        }
        for (ValueDescriptor d : e.getFields()) {
            if (kernelName.equals(d.getLabel())) {
                return d;
            }
        }
        throw new AssertionError("event " + e.getEventType().getName() + " has no field " + kernelName + ": "
                + e.getFields().stream().map(ValueDescriptor::getName).toList());
    }

    private static Object value(RecordedEvent e, String kernelName) {
        return e.getValue(field(e, kernelName).getName());
    }

    private static long work(RecordedEvent e) {
        return ((Number) value(e, "work")).longValue();
    }

    private static int intField(RecordedEvent e, String kernelName) {
        return ((Number) value(e, kernelName)).intValue();
    }

    /** item name -> expected (workqueue, req_cpu, cpu). */
    record Expect(String workqueue, int reqCpu, int cpu) {
    }

    @Test
    void everyItemProducesTheFourTracepointsInOrderWithTheKernelsFields() throws Exception {
        ConcurrentLinkedQueue<RecordedEvent> events = new ConcurrentLinkedQueue<>();
        try (Workqueues e = Workqueues.builder().cpus(1).name("jfr").build();
             RecordingStream rs = new RecordingStream()) {
            rs.setReuse(false); // the events are kept after the handlers return
            for (String name : ALL) {
                rs.enable(name);
                rs.onEvent(name, events::add);
            }
            rs.startAsync();

            Workqueue bound = e.alloc("jfr-bound", 0);
            Workqueue unbound = e.alloc("jfr-unbound", 0, WqFlag.UNBOUND);
            Workqueue limited = e.alloc("jfr-limited", 1); // bound, max_active 1

            Map<String, Expect> expected = new java.util.HashMap<>();
            CountDownLatch done = new CountDownLatch(7);
            bound.queueOn(0, new Work("b1", done::countDown));
            expected.put("b1", new Expect("jfr-bound", 0, 0));
            bound.queueOn(0, new Work("b2", done::countDown));
            expected.put("b2", new Expect("jfr-bound", 0, 0));
            bound.queue(new Work("b3", done::countDown)); // the caller's CPU: req_cpu WORK_CPU_UNBOUND
            expected.put("b3", new Expect("jfr-bound", Workqueues.WORK_CPU_UNBOUND, 0));
            unbound.queue(new Work("u1", done::countDown));
            expected.put("u1", new Expect("jfr-unbound", Workqueues.WORK_CPU_UNBOUND, -1));
            unbound.queueOn(0, new Work("u2", done::countDown));
            expected.put("u2", new Expect("jfr-unbound", 0, -1));

            // L2 is queued beyond max_active while L1 runs: it is activated only when L1 ends
            CountDownLatch l1Started = new CountDownLatch(1);
            CountDownLatch l1Release = new CountDownLatch(1);
            limited.queueOn(0, new Work("L1", () -> {
                l1Started.countDown();
                try {
                    Workqueues.blocking(() -> l1Release.await(30, SECONDS));
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                done.countDown();
            }));
            expected.put("L1", new Expect("jfr-limited", 0, 0));
            await(l1Started);
            limited.queueOn(0, new Work("L2", done::countDown));
            expected.put("L2", new Expect("jfr-limited", 0, 0));
            assertThat(limited.stats().inactive()).as("L2 waits beyond max_active").isEqualTo(1);
            l1Release.countDown();
            await(done);

            Set<String> queues = Set.of("jfr-bound", "jfr-unbound", "jfr-limited");
            Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).until(() -> {
                Map<String, Long> perItem = events.stream()
                        .filter(ev -> queues.contains((String) value(ev, "workqueue")))
                        .collect(Collectors.groupingBy(ev -> (String) value(ev, "function"), Collectors.counting()));
                return expected.keySet().stream().allMatch(n -> perItem.getOrDefault(n, 0L) >= 4);
            });
            rs.close();

            Map<String, Map<String, List<RecordedEvent>>> byItem = new java.util.HashMap<>();
            for (RecordedEvent ev : events) {
                if (!queues.contains((String) value(ev, "workqueue"))) {
                    continue;
                }
                byItem.computeIfAbsent((String) value(ev, "function"), k -> new java.util.HashMap<>())
                        .computeIfAbsent(ev.getEventType().getName(), k -> new ArrayList<>()).add(ev);
            }
            assertThat(byItem.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
            for (Map.Entry<String, Expect> x : expected.entrySet()) {
                String item = x.getKey();
                Expect want = x.getValue();
                Map<String, List<RecordedEvent>> evs = byItem.get(item);
                for (String type : ALL) {
                    assertThat(evs.get(type)).as("%s events of %s", type, item).hasSize(1);
                }
                RecordedEvent q = evs.get(QUEUE).get(0);
                RecordedEvent a = evs.get(ACTIVATE).get(0);
                RecordedEvent s = evs.get(START).get(0);
                RecordedEvent n = evs.get(END).get(0);
                for (RecordedEvent ev : List.of(q, a, s, n)) {
                    assertThat(value(ev, "function")).isEqualTo(item);
                    assertThat(value(ev, "workqueue")).isEqualTo(want.workqueue());
                    assertThat(work(ev)).as("work of %s in %s", item, ev.getEventType().getName()).isEqualTo(work(q));
                }
                assertThat(intField(q, "req_cpu")).as("req_cpu of %s", item).isEqualTo(want.reqCpu());
                assertThat(intField(q, "cpu")).as("cpu of %s", item).isEqualTo(want.cpu());
                assertNotBefore(a, q, item);
                assertNotBefore(s, a, item);
                assertNotBefore(n, s, item);
            }
            // the late activation: after L2's queueing and after L1's end
            RecordedEvent l2Queue = byItem.get("L2").get(QUEUE).get(0);
            RecordedEvent l2Activate = byItem.get("L2").get(ACTIVATE).get(0);
            RecordedEvent l1End = byItem.get("L1").get(END).get(0);
            assertThat(l2Queue.getStartTime()).as("L2 queued while L1 ran").isBefore(l1End.getStartTime());
            assertNotBefore(l2Activate, l1End, "L2 (activated when L1 ended)");
            // the two different items of one queue have different work ids
            assertThat(work(byItem.get("b1").get(QUEUE).get(0))).isNotEqualTo(work(byItem.get("b2").get(QUEUE).get(0)));
            assertThat(q(byItem, "b1").getEventType().getLabel()).isEqualTo("workqueue_queue_work");
        }
    }

    private static RecordedEvent q(Map<String, Map<String, List<RecordedEvent>>> byItem, String item) {
        return byItem.get(item).get(QUEUE).get(0);
    }

    private static void assertNotBefore(RecordedEvent later, RecordedEvent earlier, String item) {
        Instant l = later.getStartTime();
        Instant r = earlier.getStartTime();
        assertThat(l).as("%s: %s at %s not before %s at %s", item, later.getEventType().getName(), l,
                earlier.getEventType().getName(), r).isAfterOrEqualTo(r);
    }

    @Test
    void withoutARecordingQueueingWorksAndNoEventIsEnabled() throws Exception {
        if (FlightRecorder.isInitialized()) {
            assumeThat(FlightRecorder.getFlightRecorder().getRecordings().stream()
                    .noneMatch(r -> r.getState() == RecordingState.RUNNING)).as("no JFR recording running in this JVM").isTrue();
        }
        try (Workqueues e = Workqueues.builder().cpus(1).name("nojfr").build()) {
            Workqueue bound = e.alloc("nojfr-bound", 1);
            Workqueue unbound = e.alloc("nojfr-unbound", 0, WqFlag.UNBOUND);
            CountDownLatch done = new CountDownLatch(20);
            for (int i = 0; i < 10; i++) {
                bound.queueOn(0, new Work("b" + i, done::countDown)); // most go inactive first: activate path too
                unbound.queue(new Work("u" + i, done::countDown));
            }
            await(done);
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> bound.stats().completed() == 10);
            // the engine's own guard: each event is only filled in and committed when enabled
            assertThat(new TraceEvents.QueueWork().isEnabled()).isFalse();
            assertThat(new TraceEvents.ActivateWork().isEnabled()).isFalse();
            assertThat(new TraceEvents.ExecuteStart().isEnabled()).isFalse();
            assertThat(new TraceEvents.ExecuteEnd().isEnabled()).isFalse();
        }
    }
}
