package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.StarterTestSupport.field;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.WqFlag;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.task.TaskExecutionAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.origin.Origin;
import org.springframework.boot.origin.OriginLookup;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.PropertySource;

/** The design document's YAML example, read from {@code config-test.yml} by a real Spring Boot application. */
@SpringBootTest(classes = YamlConfigurationTest.App.class, webEnvironment = SpringBootTest.WebEnvironment.NONE,
        properties = "spring.config.name=config-test")
class YamlConfigurationTest {

    @Configuration(proxyBeanMethods = false)
    @ImportAutoConfiguration({WorkqueueAutoConfiguration.class, TaskExecutionAutoConfiguration.class})
    static class App {
    }

    @Autowired
    Workqueues engine;

    @Autowired
    @Qualifier("writeback")
    Workqueue writeback;

    @Autowired
    Workqueue audit; // by field name

    @Autowired
    ConfigurableEnvironment environment;

    @Autowired
    ConfigurableApplicationContext context;

    @Test
    void designExample() {
        assertThat(writeback.name()).isEqualTo("writeback");
        assertThat(writeback.flags()).containsExactlyInAnyOrder(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM, WqFlag.SYSFS);
        assertThat(writeback.maxActive()).isEqualTo(8);
        assertThat(audit.isOrdered()).isTrue();
        assertThat(audit.maxActive()).isEqualTo(1);
        assertThat(engine.watchdogThreshold()).isEqualTo(Duration.ofSeconds(30));
        assertThat(engine.cpus()).isEqualTo(2);
    }

    @Test
    void theValuesComeFromTheYamlFile() {
        assertThat(originOf("workqueue.watchdog.threshold")).contains("config-test.yml");
        assertThat(originOf("workqueue.queues.writeback.max-active")).contains("config-test.yml");
    }

    @Test
    void theRestOfTheFile() {
        Workqueue indexer = context.getBean("indexer", Workqueue.class);
        assertThat(indexer.flags()).containsExactlyInAnyOrder(WqFlag.UNBOUND, WqFlag.CPU_INTENSIVE);
        assertThat(indexer.attrs().nice()).isEqualTo(5);
        assertThat(indexer.attrs().cpumask()).isEqualTo(CpuMask.of(0, 1));
        assertThat(indexer.attrs().affinityScope()).isEqualTo(AffinityScope.CPU);
        assertThat(indexer.attrs().affinityStrict()).isTrue();
        assertThat(context.getBean("my_queue", Workqueue.class).maxActive()).isEqualTo(3);
        assertThat(context.getBean("plain_underscore", Workqueue.class).maxActive()).isEqualTo(4);
        Workqueue renamed = context.getBean("block_io", Workqueue.class);
        assertThat(renamed.flags()).containsExactly(WqFlag.HIGHPRI);
        assertThat(context.containsBean("renamed")).isFalse();
        assertThat(context.getBean("system_wq", Workqueue.class).maxActive()).isEqualTo(4);
        Workqueue sysUnbound = context.getBean("system_unbound_wq", Workqueue.class);
        assertThat(sysUnbound.attrs().nice()).isEqualTo(-2);
        assertThat(sysUnbound.attrs().cpumask()).isEqualTo(CpuMask.of(1));
        assertThat(engine.unboundCpumask()).isEqualTo(CpuMask.of(0, 1));
    }

    @Test
    void aProfileDocumentOverridesTheDesignExample() {
        try (ConfigurableApplicationContext ctx = new SpringApplicationBuilder(App.class).web(WebApplicationType.NONE)
                .properties("spring.config.name=config-test").profiles("tuned").run()) {
            Workqueues e = ctx.getBean(Workqueues.class);
            assertThat(e.watchdogThreshold()).isEqualTo(Duration.ofSeconds(45));
            assertThat(field(e, "idleTimeoutNanos")).isEqualTo(Duration.ofMinutes(2).toNanos());
            Workqueue wb = ctx.getBean("writeback", Workqueue.class);
            assertThat(wb.maxActive()).isEqualTo(16);
            assertThat(wb.flags()).as("merged with the default document").contains(WqFlag.MEM_RECLAIM);
            assertThat(ctx.getBean("audit", Workqueue.class).isOrdered()).isTrue();
        }
    }

    private String originOf(String name) {
        for (PropertySource<?> ps : environment.getPropertySources()) {
            if (ps == ConfigurationPropertySources.get(environment)) {
                continue;
            }
            if (ps.containsProperty(name) && ps instanceof OriginLookup<?>) {
                @SuppressWarnings("unchecked")
                Origin o = ((OriginLookup<String>) ps).getOrigin(name);
                return ps.getName() + " " + o;
            }
        }
        return "nowhere";
    }
}
