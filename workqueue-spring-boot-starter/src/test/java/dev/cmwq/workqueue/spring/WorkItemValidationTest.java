package dev.cmwq.workqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.springframework.aop.support.AopUtils;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.diagnostics.FailureAnalyzer;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.io.support.SpringFactoriesLoader;

/**
 * A bad {@link WorkItem} declaration stops the start with {@link InvalidWorkqueueConfigurationException},
 * and {@link WorkqueueFailureAnalyzer}'s report names the method, the bad value and what is allowed.
 */
class WorkItemValidationTest {

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner()
            .withPropertyValues("workqueue.queues.writeback.flags=unbound");

    static class UnknownQueue {
        @WorkItem(queue = "nope")
        public void send(String to) {
        }
    }

    static class StringResult {
        @WorkItem
        public String compute(int x) {
            return "x";
        }
    }

    static class BadDelay {
        @WorkItem(delay = "abc")
        public void later() {
        }
    }

    static class NegativeDelay {
        @WorkItem(delay = "-1s")
        public void later() {
        }
    }

    static class DebounceWithoutDelay {
        @WorkItem(debounce = true)
        public void settle() {
        }
    }

    static class DebounceWithoutCoalescing {
        @WorkItem(delay = "1s", debounce = true, coalesce = false)
        public void settle() {
        }
    }

    static class FinalMethod {
        @WorkItem
        public final void flush() {
        }
    }

    static class PrivateMethod {
        @WorkItem
        private void flush() {
        }

        public void callIt() {
            flush();
        }
    }

    static class StaticMethod {
        @WorkItem
        public static void flush() {
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class UnknownQueueConfig {
        @Bean
        UnknownQueue bean() {
            return new UnknownQueue();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class StringResultConfig {
        @Bean
        StringResult bean() {
            return new StringResult();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class BadDelayConfig {
        @Bean
        BadDelay bean() {
            return new BadDelay();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class NegativeDelayConfig {
        @Bean
        NegativeDelay bean() {
            return new NegativeDelay();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class DebounceWithoutDelayConfig {
        @Bean
        DebounceWithoutDelay bean() {
            return new DebounceWithoutDelay();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class DebounceWithoutCoalescingConfig {
        @Bean
        DebounceWithoutCoalescing bean() {
            return new DebounceWithoutCoalescing();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class FinalMethodConfig {
        @Bean
        FinalMethod bean() {
            return new FinalMethod();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class PrivateMethodConfig {
        @Bean
        PrivateMethod bean() {
            return new PrivateMethod();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class StaticMethodConfig {
        @Bean
        StaticMethod bean() {
            return new StaticMethod();
        }
    }

    /** Starts with {@code config}, expects it to fail, and returns the report (checked for its general shape). */
    private FailureAnalysis failure(Class<?> config, String method) {
        FailureAnalysis[] analysis = new FailureAnalysis[1];
        runner.withUserConfiguration(config).run(ctx -> {
            assertThat(ctx).hasFailed();
            Throwable failure = ctx.getStartupFailure();
            InvalidWorkqueueConfigurationException cause = find(failure);
            assertThat(cause).as("an InvalidWorkqueueConfigurationException in %s", failure).isNotNull();
            assertThat(cause.getProperty()).endsWith(method);
            analysis[0] = new WorkqueueFailureAnalyzer().analyze(failure);
        });
        FailureAnalysis a = analysis[0];
        assertThat(a).isNotNull();
        assertThat(a.getDescription()).startsWith("Invalid @WorkItem declaration").contains("Method: ").contains(method);
        assertThat(a.getAction()).startsWith("Fix the @WorkItem declaration").contains("Allowed: ");
        return a;
    }

    private static InvalidWorkqueueConfigurationException find(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof InvalidWorkqueueConfigurationException e) {
                return e;
            }
        }
        return null;
    }

    @Test
    void theAnalyzerIsRegistered() {
        // Other analyzers need constructor arguments that only Boot's own start-up supplies: skip those.
        List<FailureAnalyzer> analyzers = SpringFactoriesLoader.forDefaultResourceLocation(getClass().getClassLoader())
                .load(FailureAnalyzer.class, SpringFactoriesLoader.FailureHandler.handleMessage((message, failure) -> {
                }));
        assertThat(analyzers).anyMatch(a -> a instanceof WorkqueueFailureAnalyzer);
    }

    @Test
    void aQueueThatDoesNotExist() {
        FailureAnalysis a = failure(UnknownQueueConfig.class, "UnknownQueue.send(String)");
        assertThat(a.getDescription()).contains("queue = nope").contains("no workqueue is named 'nope'");
        assertThat(a.getAction()).as("lists the existing queues")
                .contains("system_wq", "events", "system_unbound_wq", "events_unbound", "writeback", "serial", "parallel");
    }

    @Test
    void aReturnTypeThatIsNotAllowed() {
        FailureAnalysis a = failure(StringResultConfig.class, "StringResult.compute(int)");
        assertThat(a.getDescription()).contains("returns java.lang.String");
        assertThat(a.getAction()).contains("void", "boolean", "CompletableFuture<T>", "CompletionStage<T>", "Future<T>");
    }

    @Test
    void aDelayThatIsNotADuration() {
        FailureAnalysis a = failure(BadDelayConfig.class, "BadDelay.later()");
        assertThat(a.getDescription()).contains("delay = abc").contains("not a duration");
        assertThat(a.getAction()).contains("500ms");
    }

    @Test
    void aNegativeDelay() {
        FailureAnalysis a = failure(NegativeDelayConfig.class, "NegativeDelay.later()");
        assertThat(a.getDescription()).contains("delay = -1s");
        assertThat(a.getAction()).contains("positive duration");
    }

    @Test
    void debounceWithoutADelay() {
        FailureAnalysis a = failure(DebounceWithoutDelayConfig.class, "DebounceWithoutDelay.settle()");
        assertThat(a.getDescription()).contains("debounce = true").contains("needs a delay");
        assertThat(a.getAction()).contains("delay = \"500ms\"");
    }

    @Test
    void debounceWithoutCoalescing() {
        FailureAnalysis a = failure(DebounceWithoutCoalescingConfig.class, "DebounceWithoutCoalescing.settle()");
        assertThat(a.getDescription()).contains("debounce = true, coalesce = false");
        assertThat(a.getAction()).contains("coalesce = true");
    }

    @Test
    void aFinalMethodOnAClassProxy() {
        FailureAnalysis a = failure(FinalMethodConfig.class, "FinalMethod.flush()");
        assertThat(a.getDescription()).contains("Value: \"public final\"");
        assertThat(a.getAction()).contains("non-final instance method");
    }

    @Test
    void aPrivateMethod() {
        FailureAnalysis a = failure(PrivateMethodConfig.class, "PrivateMethod.flush()");
        assertThat(a.getDescription()).contains("Value: \"private\"");
        assertThat(a.getAction()).contains("public (or protected) instance method");
    }

    @Test
    void aStaticMethod() {
        FailureAnalysis a = failure(StaticMethodConfig.class, "StaticMethod.flush()");
        assertThat(a.getDescription()).contains("Value: \"public static\"");
    }

    /** A valid declaration of the same shapes starts (the checks are not over-eager). */
    static class AllGood {
        @WorkItem(queue = "writeback", delay = "1s", debounce = true)
        public void settle() {
        }

        @WorkItem(queue = "events_unbound")
        public Boolean boxed() {
            return true;
        }

        @WorkItem
        public Void nothing() {
            return null;
        }

        @WorkItem(delay = "0s")
        protected CompletableFuture<String> soon() {
            return CompletableFuture.completedFuture("");
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class AllGoodConfig {
        @Bean
        AllGood bean() {
            return new AllGood();
        }
    }

    @Test
    void validDeclarationsStart() {
        runner.withUserConfiguration(AllGoodConfig.class).run(ctx -> assertThat(ctx).hasNotFailed());
    }

    // ---- final classes and final methods, by kind of proxy ------------------------------------

    interface Api {
        @WorkItem(queue = "system_unbound_wq")
        CompletableFuture<String> go();
    }

    /** A record is a final class; its methods are not final. */
    record RecordApi(String name) implements Api {
        @Override
        public CompletableFuture<String> go() {
            return CompletableFuture.completedFuture(name + " on " + Thread.currentThread().getName());
        }
    }

    static class FinalMethodApi implements Api {
        @Override
        public final CompletableFuture<String> go() {
            return CompletableFuture.completedFuture("final on " + Thread.currentThread().getName());
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class RecordApiConfig {
        @Bean
        RecordApi bean() {
            return new RecordApi("record");
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class FinalMethodApiConfig {
        @Bean
        FinalMethodApi bean() {
            return new FinalMethodApi();
        }
    }

    @Test
    void aFinalClassWorksThroughAnInterfaceProxy() {
        runner.withPropertyValues("spring.aop.proxy-target-class=false").withUserConfiguration(RecordApiConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Api api = ctx.getBean(Api.class);
            assertThat(AopUtils.isJdkDynamicProxy(api)).isTrue();
            assertThat(api.go()).succeedsWithin(WorkItemTestSupport.PATIENCE).asString().startsWith("record on kworker");
        });
    }

    /**
     * An interface (JDK) proxy intercepts the interface's method, so a final implementation can't
     * be bypassed; the start-up check refuses it anyway, with a reason that is not true for this proxy.
     */
    @Test
    void aFinalImplementationMethodWorksThroughAnInterfaceProxy() {
        runner.withPropertyValues("spring.aop.proxy-target-class=false").withUserConfiguration(FinalMethodApiConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Api api = ctx.getBean(Api.class);
            assertThat(AopUtils.isJdkDynamicProxy(api)).isTrue();
            assertThat(api.go()).succeedsWithin(WorkItemTestSupport.PATIENCE).asString().startsWith("final on kworker");
        });
    }

    /**
     * With class proxies a final class (a record, say) can't be proxied at all. The start fails, but
     * with CGLIB's "Could not generate CGLIB subclass" instead of the @WorkItem report that a final
     * method gets.
     */
    @Test
    void aFinalClassOnAClassProxyIsReportedLikeAFinalMethod() {
        runner.withUserConfiguration(RecordApiConfig.class).run(ctx -> {
            assertThat(ctx).hasFailed();
            InvalidWorkqueueConfigurationException cause = find(ctx.getStartupFailure());
            assertThat(cause).as("an InvalidWorkqueueConfigurationException in %s", ctx.getStartupFailure()).isNotNull();
            assertThat(cause.getProperty()).contains("RecordApi");
            assertThat(cause.getValue().toString()).contains("final");
        });
    }
}
