package dev.cmwq.workqueue.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of the engine's tracepoints while they are recorded: {@link ThroughputBenchmark}'s
 * queue-and-run of a no-op item, one producer, with no JFR recording and with a recording of the
 * four {@code cmwq.workqueue_*} events (four events per item), as an operator would start with
 * {@code jcmd <pid> JFR.start} (see "Tracepoints as JFR events" in {@code operations.md}). The
 * recording goes to disk and keeps at most 64 MB; at the end of each trial it is read back and the
 * {@code workqueue_execute_start} events it kept are counted ({@link #lastExecuteStartsRead}), so a
 * run that recorded nothing shows. The limit drops whole chunks, and at this event rate JFR's
 * chunk rotation lags, so the chunk being written can grow past the limit and be dropped whole
 * when the recording stops, measured events and all (a read-back of no events of any kind, about
 * 120 KB of metadata, in about one recorded trial in 24). So each recorded trial first makes JFR
 * begin a new chunk (see {@code tearDown}), then queues {@link #LAST_ITEMS} more items and waits
 * for them before the recording stops: their events are in a small chunk of their own, which the
 * limit keeps. The read-back line also gives the events of all kinds and the bytes, to tell an
 * empty dump from one that lost only the measured events.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 4, time = 2) // past the engine objects' tenuring (see ThroughputBenchmark)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TracepointBenchmark {

    static final List<String> EVENTS = List.of("cmwq.workqueue_queue_work", "cmwq.workqueue_activate_work",
            "cmwq.workqueue_execute_start", "cmwq.workqueue_execute_end");

    /** Items queued after a recorded trial's measurement, just before its recording stops. */
    static final int LAST_ITEMS = 1000;

    /** {@code workqueue_execute_start} events read back from the last recorded trial in this JVM; -1 before one. */
    static volatile long lastExecuteStartsRead = -1;

    @State(Scope.Benchmark)
    public static class Engine {
        @Param({"cmwq-bound", "cmwq-unbound"})
        public String backend;

        @Param({"off", "on"})
        public String recording;

        Backend impl;
        Recording rec;

        @Setup(Level.Trial)
        public void setUp() {
            if (recording.equals("on")) {
                rec = new Recording();
                rec.setName("cmwq-tracepoints");
                EVENTS.forEach(rec::enable);
                rec.setToDisk(true);
                rec.setMaxSize(64L << 20);
                rec.start();
            } else if (!recording.equals("off")) {
                throw new IllegalArgumentException("recording '" + recording + "': allowed off, on");
            }
            impl = Backend.create(backend);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException, InterruptedException {
            if (rec != null) {
                // A chunk boundary first: starting and stopping another disk recording makes JFR
                // begin a new chunk for every running one, so the last items' events get a chunk of
                // their own. Without it they share the chunk being written with the measured events,
                // and that chunk, grown past the 64 MB limit when JFR's rotation lags behind this
                // event rate, is dropped whole when the recording stops (a read-back of no events
                // at all, about 120 KB of metadata, in about one recorded trial in 24).
                try (Recording boundary = new Recording()) {
                    boundary.setName("cmwq-tracepoints-boundary");
                    boundary.setToDisk(true);
                    boundary.start();
                    boundary.stop();
                }
                CountDownLatch last = new CountDownLatch(LAST_ITEMS);
                for (int i = 0; i < LAST_ITEMS; i++) {
                    impl.submit(last::countDown);
                }
                if (!last.await(30, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(last.getCount() + " of the last " + LAST_ITEMS + " items did not run in 30 s");
                }
            }
            impl.close();
            if (rec != null) {
                rec.stop();
                Path file = Files.createTempFile("cmwq-tracepoints", ".jfr");
                try {
                    rec.dump(file);
                    long starts = 0;
                    long all = 0;
                    try (RecordingFile f = new RecordingFile(file)) {
                        while (f.hasMoreEvents()) {
                            RecordedEvent e = f.readEvent();
                            all++;
                            if (e.getEventType().getName().equals("cmwq.workqueue_execute_start")) {
                                starts++;
                            }
                        }
                    }
                    lastExecuteStartsRead = starts;
                    // the events of all kinds and the bytes too: if none is read back, they tell an
                    // empty dump from one that lost the measured events
                    System.out.println("recording kept " + starts + " workqueue_execute_start events (" + all + " events of all kinds, "
                            + Files.size(file) + " bytes read back)");
                } finally {
                    rec.close();
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    @Benchmark
    @Threads(1)
    public void queueAndRun(Engine e, ThroughputBenchmark.Producer p) {
        p.acquire();
        e.impl.submit(p.item);
    }
}
