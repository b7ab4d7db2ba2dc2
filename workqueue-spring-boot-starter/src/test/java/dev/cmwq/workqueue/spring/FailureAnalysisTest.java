package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.StarterTestSupport.runner;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.annotation.Configuration;

/**
 * Bad configuration stops the start with a report naming the property, the bad value and what is
 * allowed; nothing of the engine is left running.
 */
@ExtendWith(OutputCaptureExtension.class)
class FailureAnalysisTest {

    private static final String ALL_FLAGS = "unbound, freezable, mem-reclaim, highpri, cpu-intensive, sysfs, power-efficient";
    private static final String ALL_SCOPES = "cpu, smt, cache, numa, system";
    private static final String CPUMASK_FORMS = "hex like 'f'";

    private static Arguments bad(String label, List<String> properties, String property, String value, String... expected) {
        return Arguments.of(label, properties, property, value, List.of(expected));
    }

    static Stream<Arguments> badConfigurations() {
        return Stream.of(
                // flags
                bad("unknown flag, comma form", List.of("workqueue.queues.writeback.flags=unbound,mem-reclam"),
                        "workqueue.queues.writeback.flags", "unbound,mem-reclam", "'mem-reclam' is not a workqueue flag", ALL_FLAGS),
                bad("unknown flag, list form", List.of("workqueue.queues.writeback.flags[0]=unbound", "workqueue.queues.writeback.flags[1]=bogus"),
                        "workqueue.queues.writeback.flags[1]", "bogus", "'bogus' is not a workqueue flag", ALL_FLAGS),
                // affinity scopes
                bad("unknown affinity scope of a queue", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.affinity-scope=llc"),
                        "workqueue.queues.u.affinity-scope", "llc", "'llc' is not an affinity scope", ALL_SCOPES),
                bad("unknown default affinity scope", List.of("workqueue.default-affinity-scope=node"),
                        "workqueue.default-affinity-scope", "node", "'node' is not an affinity scope", ALL_SCOPES),
                bad("unknown affinity scope of system_unbound_wq", List.of("workqueue.system-unbound-wq.affinity-scope=l3"),
                        "workqueue.system-unbound-wq.affinity-scope", "l3", "'l3' is not an affinity scope", ALL_SCOPES),
                // max-active
                bad("max-active 600 on a bound queue", List.of("workqueue.queues.b.max-active=600"),
                        "workqueue.queues.b.max-active", "600", "bound queue", "1..512"),
                bad("max-active -1", List.of("workqueue.queues.b.max-active=-1"),
                        "workqueue.queues.b.max-active", "-1", "can't be negative", "1..512"),
                bad("max-active 5000 on an unbound queue with 2 CPUs", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.max-active=5000"),
                        "workqueue.queues.u.max-active", "5000", "unbound queue", "1..512"),
                bad("max-active 600 on system_wq", List.of("workqueue.system-wq.max-active=600"),
                        "workqueue.system-wq.max-active", "600", "1..512"),
                bad("max-active 0 on system_highpri_wq", List.of("workqueue.system-highpri-wq.max-active=0"),
                        "workqueue.system-highpri-wq.max-active", "0", "1..512"),
                bad("max-active 5000 on system_unbound_wq", List.of("workqueue.system-unbound-wq.max-active=5000"),
                        "workqueue.system-unbound-wq.max-active", "5000", "1..512"),
                bad("max-active not a number", List.of("workqueue.queues.b.max-active=lots"),
                        "workqueue.queues.b.max-active", "lots", "Integer", "an integer"),
                // cpumasks
                bad("cpumask not hex", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.cpumask=zz"),
                        "workqueue.queues.u.cpumask", "zz", "not hex", CPUMASK_FORMS),
                bad("cpumask open range", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.cpumask=0-"),
                        "workqueue.queues.u.cpumask", "0-", "bad cpu list", CPUMASK_FORMS),
                bad("cpumask with no CPU (hex 0)", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.cpumask=0"),
                        "workqueue.queues.u.cpumask", "0", "no CPU"),
                bad("cpumask with no online CPU (hex 4 = CPU 2 of 2)", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.cpumask=4"),
                        "workqueue.queues.u.cpumask", "4", "no online CPU", "online: 0-1"),
                bad("cpumask of an ordered queue with no online CPU", List.of("workqueue.queues.o.ordered=true", "workqueue.queues.o.cpumask=2-3"),
                        "workqueue.queues.o.cpumask", "2-3", "no online CPU", "online: 0-1"),
                bad("system_unbound_wq cpumask with no online CPU", List.of("workqueue.system-unbound-wq.cpumask=8"),
                        "workqueue.system-unbound-wq.cpumask", "8", "no online CPU", "online: 0-1"),
                bad("system_unbound_wq cpumask not hex", List.of("workqueue.system-unbound-wq.cpumask=xyz"),
                        "workqueue.system-unbound-wq.cpumask", "xyz", "not hex", CPUMASK_FORMS),
                bad("unbound cpumask not hex", List.of("workqueue.unbound-cpumask=zz"),
                        "workqueue.unbound-cpumask", "zz", "not hex", CPUMASK_FORMS),
                bad("unbound cpumask with no online CPU", List.of("workqueue.unbound-cpumask=4"),
                        "workqueue.unbound-cpumask", "4", "no online CPU", "online: 0-1"),
                bad("unbound cpumask hex 0", List.of("workqueue.unbound-cpumask=0"),
                        "workqueue.unbound-cpumask", "0", "no online CPU"),
                // ordered
                bad("ordered with max-active 2", List.of("workqueue.queues.audit.ordered=true", "workqueue.queues.audit.max-active=2"),
                        "workqueue.queues.audit.max-active", "2", "one item at a time", "1, or leave it unset"),
                bad("ordered not a boolean", List.of("workqueue.queues.audit.ordered=maybe"),
                        "workqueue.queues.audit.ordered", "maybe", "true or false"),
                // system names
                bad("a queue named events", List.of("workqueue.queues.events.max-active=1"),
                        "workqueue.queues.events", "events", "system workqueue", "any name but events"),
                bad("a queue named [system_wq]", List.of("workqueue.queues.[system_wq].max-active=1"),
                        "workqueue.queues.system_wq", "system_wq", "system workqueue", "system_wq"),
                bad("a queue named events_unbound", List.of("workqueue.queues.events_unbound.flags=unbound"),
                        "workqueue.queues.events_unbound", "events_unbound", "system workqueue", "events_unbound"),
                bad("a queue renamed to system_unbound_wq", List.of("workqueue.queues.x.name=system_unbound_wq"),
                        "workqueue.queues.x.name", "system_unbound_wq", "system workqueue", "any name but"),
                // other names
                bad("a blank name", List.of("workqueue.queues.x.name= "),
                        "workqueue.queues.x.name", "", "needs a name", "a non-empty name"),
                bad("two queues with one name", List.of("workqueue.queues.a.name=shared", "workqueue.queues.shared.max-active=1"),
                        "workqueue.queues.shared.name", "shared", "already used by workqueue.queues.a", "a name no other queue has"),
                // attributes
                bad("nice on a bound queue", List.of("workqueue.queues.b.nice=5"),
                        "workqueue.queues.b.nice", "5", "only to unbound queues", "add 'unbound' to workqueue.queues.b.flags"),
                bad("cpumask on a bound highpri queue", List.of("workqueue.queues.b.flags=highpri", "workqueue.queues.b.cpumask=1"),
                        "workqueue.queues.b.cpumask", "1", "[highpri]", "add 'unbound'"),
                bad("affinity-strict on a bound queue", List.of("workqueue.queues.b.affinity-strict=true"),
                        "workqueue.queues.b.affinity-strict", "true", "only to unbound queues", "add 'unbound'"),
                bad("nice 25", List.of("workqueue.queues.u.flags=unbound", "workqueue.queues.u.nice=25"),
                        "workqueue.queues.u.nice", "25", "nice out of range", "-20..19"),
                bad("nice -21 on system_unbound_wq", List.of("workqueue.system-unbound-wq.nice=-21"),
                        "workqueue.system-unbound-wq.nice", "-21", "nice out of range", "-20..19"),
                bad("attributes of system_power_efficient_wq while it is bound", List.of("workqueue.system-power-efficient-wq.nice=3"),
                        "workqueue.system-power-efficient-wq.nice", "3", "bound here", "workqueue.power-efficient=true"),
                bad("cpumask of system_freezable_power_efficient_wq while it is bound",
                        List.of("workqueue.power-efficient=false", "workqueue.system-freezable-power-efficient-wq.cpumask=1"),
                        "workqueue.system-freezable-power-efficient-wq.cpumask", "1", "bound here", "workqueue.power-efficient=true"),
                // engine
                bad("a duration that is no duration", List.of("workqueue.idle-timeout=abc"),
                        "workqueue.idle-timeout", "abc", "Duration", "a duration such as"),
                bad("a zero idle timeout", List.of("workqueue.idle-timeout=0s"),
                        "workqueue.idle-timeout", "PT0S", "positive", "a positive duration"),
                bad("a negative watchdog threshold", List.of("workqueue.watchdog.threshold=-1s"),
                        "workqueue.watchdog.threshold", "PT-1S", "zero (off) or positive", "0 (off) or a positive duration"),
                bad("a negative cpu-intensive threshold", List.of("workqueue.cpu-intensive-thresh=-5ms"),
                        "workqueue.cpu-intensive-thresh", "PT-0.005S", "zero (off) or positive", "0 (off) or a positive duration"),
                bad("a negative monitor interval", List.of("workqueue.monitor-interval=-1ms"),
                        "workqueue.monitor-interval", "PT-0.001S", "zero (off) or positive", "0 (off) or a positive duration"),
                bad("cpus=0", List.of("workqueue.cpus=0"), "workqueue.cpus", "0", "out of range", "1..4096"),
                bad("cpus=5000", List.of("workqueue.cpus=5000"), "workqueue.cpus", "5000", "out of range", "1..4096"),
                bad("max-workers=0", List.of("workqueue.max-workers=0"), "workqueue.max-workers", "0", "at least 1", "1 or more"),
                bad("a blank engine name", List.of("workqueue.name= "), "workqueue.name", "", "must not be empty", "a non-empty name"),
                // the opt-in executor
                bad("task-executor.queue names no queue", List.of("workqueue.task-executor.queue=nosuch"),
                        "workqueue.task-executor.queue", "nosuch", "no workqueue is named 'nosuch'", "workqueue.queues"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badConfigurations")
    void badConfigurationStopsTheStartWithAReport(String label, List<String> properties, String property, String value,
                                                  List<String> expected) {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues(properties.toArray(String[]::new))
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> {
                    assertThat(ctx).as(label).hasFailed();
                    FailureAnalysis analysis = StarterTestSupport.analyze(ctx.getStartupFailure());
                    assertThat(analysis).as("a report for %s: %s", label, ctx.getStartupFailure()).isNotNull();
                    String report = analysis.getDescription() + "\n" + analysis.getAction();
                    assertThat(analysis.getDescription()).as(report).startsWith("Invalid workqueue configuration:")
                            .contains("Property: " + property + "\n")
                            .contains("Value: \"" + value + "\"");
                    assertThat(analysis.getAction()).as(report).startsWith("Update your application's configuration. Allowed: ");
                    for (String e : expected) {
                        assertThat(report).as(label).contains(e);
                    }
                });
        threads.awaitAllExited();
    }

    // ---- what is left running -----------------------------------------------------------------

    /** A value checked before the engine is built: no engine thread is ever made. */
    @Test
    void aBadValueFoundBeforeBuildingStartsNoThread() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.queues.audit.ordered=true", "workqueue.queues.audit.max-active=2")
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> assertThat(ctx).hasFailed());
        assertThat(threads.threads).isEmpty();
    }

    /** A value only the built engine can check (a cpumask with no online CPU): the engine is shut down again. */
    @Test
    void aBadValueFoundAfterBuildingLeavesNoThread() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.queues.u.flags=unbound,mem-reclaim", "workqueue.queues.u.cpumask=4")
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> assertThat(ctx).hasFailed());
        assertThat(threads.threads).as("workers, monitor, watchdog, rescuer were made").isNotEmpty()
                .anyMatch(t -> t.getName().startsWith("kworker/")).anyMatch(t -> t.getName().equals("kworker/R-u"));
        threads.awaitAllExited();
    }

    /** A failure in another bean after the engine bean exists: closing the failed context shuts the engine down. */
    @Test
    void aFailureAfterTheEngineBeanLeavesNoThread() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.task-executor.queue=nosuch")
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> assertThat(ctx).hasFailed());
        assertThat(threads.threads).isNotEmpty();
        threads.awaitAllExited();
    }

    /**
     * {@code workqueue.max-workers} below what the engine needs for its first workers (one per
     * per-CPU pool, 2 x CPUs, plus the unbound pools of the system queues) can't build the engine.
     */
    @Test
    void tooFewMaxWorkersIsReported() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.max-workers=1")
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> {
                    assertThat(ctx).hasFailed();
                    FailureAnalysis analysis = StarterTestSupport.analyze(ctx.getStartupFailure());
                    assertThat(analysis).as("report for %s", ctx.getStartupFailure()).isNotNull();
                    assertThat(analysis.getDescription()).contains("Property: workqueue.max-workers").contains("Value: \"1\"");
                });
        threads.awaitAllExited();
    }

    @Test
    void tooFewMaxWorkersLeavesNoThreads() {
        StarterTestSupport.ThreadRecorder threads = new StarterTestSupport.ThreadRecorder();
        runner().withPropertyValues("workqueue.max-workers=1")
                .withBean("threadRecorder", WorkqueuesBuilderCustomizer.class, () -> threads)
                .run(ctx -> assertThat(ctx).hasFailed());
        threads.awaitAllExited();
    }

    // ---- through SpringApplication: the analyzers are registered and win over Spring Boot's own ----

    @Configuration(proxyBeanMethods = false)
    @ImportAutoConfiguration({WorkqueueAutoConfiguration.class, TaskExecutionAutoConfiguration.class})
    static class App {
    }

    private static Throwable start(String... properties) {
        SpringApplication app = new SpringApplicationBuilder(App.class).web(WebApplicationType.NONE)
                .properties("workqueue.cpus=2", "spring.lifecycle.timeout-per-shutdown-phase=5s", "spring.main.banner-mode=off")
                .properties(properties).build();
        try {
            app.run().close();
        } catch (Throwable t) {
            return t;
        }
        throw new AssertionError("the application started with " + List.of(properties));
    }

    @Test
    void bindFailureReportIsPrinted(CapturedOutput output) {
        start("workqueue.queues.writeback.flags=unbound,mem-reclam");
        assertThat(output).contains("APPLICATION FAILED TO START")
                .contains("Invalid workqueue configuration:")
                .contains("Property: workqueue.queues.writeback.flags")
                .contains("Value: \"unbound,mem-reclam\"")
                .contains("Reason: 'mem-reclam' is not a workqueue flag")
                .contains("Allowed: " + ALL_FLAGS)
                // the starter's analyzer, not Spring Boot's generic bind report
                .contains("Description:\n\nInvalid workqueue configuration:");
    }

    @Test
    void configurationFailureReportIsPrinted(CapturedOutput output) {
        start("workqueue.queues.audit.ordered=true", "workqueue.queues.audit.max-active=2");
        assertThat(output).contains("APPLICATION FAILED TO START")
                .contains("Invalid workqueue configuration:")
                .contains("Property: workqueue.queues.audit.max-active")
                .contains("Value: \"2\"")
                .contains("Allowed: 1, or leave it unset");
    }

    @Test
    void yamlOriginIsInTheBindReport(CapturedOutput output) {
        start("spring.config.name=config-test", "spring.profiles.active=bad-scope");
        assertThat(output).contains("APPLICATION FAILED TO START").contains("Property: workqueue.queues.writeback.affinity-scope")
                .contains("Value: \"llc\"").contains("Origin: class path resource [config-test.yml]")
                .contains("Reason: 'llc' is not an affinity scope").contains("Allowed: " + ALL_SCOPES);
    }
}
