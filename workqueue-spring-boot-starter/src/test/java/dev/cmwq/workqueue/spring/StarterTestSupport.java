package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.Workqueues;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.awaitility.Awaitility;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** Shared set-up of the starter's tests: a runner with the starter, reflection on engine internals, thread tracking. */
final class StarterTestSupport {

    /** Deterministic engine size and a short drain on close (nothing is left blocked anyway). */
    static final String[] BASE_PROPERTIES = {"workqueue.cpus=2", "spring.lifecycle.timeout-per-shutdown-phase=5s"};

    static final Duration PATIENCE = Duration.ofSeconds(30);

    private StarterTestSupport() {
    }

    /** The starter with Spring Boot's task execution auto-configuration, two CPUs. */
    static ApplicationContextRunner runner() {
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class, TaskExecutionAutoConfiguration.class))
                .withPropertyValues(BASE_PROPERTIES);
    }

    /** A value of a field of the engine (or of one of its parts) that has no public getter. */
    static Object field(Object target, String name) {
        Class<?> c = target.getClass();
        while (c != null) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(target);
            } catch (NoSuchFieldException e) {
                c = c.getSuperclass();
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("no field " + name + " in " + target.getClass());
    }

    /** Runs the failure through the starter's two analyzers; the one that recognises it answers. */
    static FailureAnalysis analyze(Throwable failure) {
        FailureAnalysis a = new WorkqueueFailureAnalyzer().analyze(failure);
        FailureAnalysis b = new WorkqueueBindFailureAnalyzer().analyze(failure);
        assertThat(a == null || b == null).as("only one analyzer answers for %s", failure).isTrue();
        return a != null ? a : b;
    }

    /**
     * A {@link WorkqueuesBuilderCustomizer} that records every thread the engine makes (workers,
     * rescuers, monitor, timer, watchdog), so a test can prove they all exit.
     */
    static final class ThreadRecorder implements WorkqueuesBuilderCustomizer {
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public void customize(Workqueues.Builder builder) {
            builder.threadFactory((name, body) -> {
                Thread t = Thread.ofPlatform().name(name).daemon(true).unstarted(body);
                threads.add(t);
                return t;
            });
        }

        /** Every recorded thread has exited (polls: shutdown joins them, but generously). */
        void awaitAllExited() {
            Awaitility.await().atMost(PATIENCE).pollInterval(Duration.ofMillis(20))
                    .untilAsserted(() -> assertThat(threads.stream().filter(Thread::isAlive).map(Thread::getName).toList())
                            .as("engine threads still alive").isEmpty());
        }
    }
}
