package dev.cmwq.workqueue.spring;

import static dev.cmwq.workqueue.spring.WorkItemTestSupport.PATIENCE;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.eventually;
import static dev.cmwq.workqueue.spring.WorkItemTestSupport.liveItems;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cmwq.workqueue.spring.WorkItemTestSupport.Blocker;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.aopalliance.intercept.MethodInterceptor;
import org.junit.jupiter.api.Test;
import org.springframework.aop.Advisor;
import org.springframework.aop.framework.Advised;
import org.springframework.aop.framework.ProxyFactory;
import org.springframework.aop.support.AopUtils;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.cache.concurrent.ConcurrentMapCacheManager;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;
import org.springframework.core.Ordered;

/**
 * How {@link WorkItem} beans are proxied: interface (JDK) proxies, class (CGLIB) proxies, beans
 * that other advice already proxies, and calls that bypass the proxy.
 */
class WorkItemProxyTest {

    private final ApplicationContextRunner runner = WorkItemTestSupport.runner();

    private static String thread() {
        return Thread.currentThread().getName();
    }

    // ---- interface (JDK) proxies --------------------------------------------------------------

    /** The annotation on the interface. */
    interface Greeter {
        @WorkItem(queue = "system_unbound_wq")
        CompletableFuture<String> greet(String who);

        @WorkItem(queue = "serial")
        boolean nudge(String key);
    }

    static class PoliteGreeter implements Greeter {
        private final AtomicInteger nudges = new AtomicInteger();

        @Override
        public CompletableFuture<String> greet(String who) {
            return CompletableFuture.completedFuture("hello " + who + " from " + thread());
        }

        @Override
        public boolean nudge(String key) {
            nudges.incrementAndGet();
            return true;
        }
    }

    /** The annotation on the implementation only. */
    interface Pinger {
        CompletableFuture<String> ping();
    }

    static class AnnotatedPinger implements Pinger {
        @Override
        @WorkItem(queue = "system_unbound_wq")
        public CompletableFuture<String> ping() {
            return CompletableFuture.completedFuture(thread());
        }
    }

    /** A generic interface: the implementation's method is reached through a bridge method. */
    interface Handler<T> {
        @WorkItem(queue = "system_unbound_wq")
        CompletableFuture<String> handle(T value);
    }

    static class StringHandler implements Handler<String> {
        @Override
        public CompletableFuture<String> handle(String value) {
            return CompletableFuture.completedFuture(value + " on " + thread());
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class InterfaceConfig {
        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        PoliteGreeter greeter() {
            return new PoliteGreeter();
        }

        @Bean
        AnnotatedPinger pinger() {
            return new AnnotatedPinger();
        }

        @Bean
        StringHandler handler() {
            return new StringHandler();
        }
    }

    @Test
    void interfaceProxiesWithTheAnnotationOnTheInterfaceOrTheImplementation() {
        runner.withPropertyValues("spring.aop.proxy-target-class=false").withUserConfiguration(InterfaceConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Greeter greeter = ctx.getBean(Greeter.class);
            Pinger pinger = ctx.getBean(Pinger.class);
            @SuppressWarnings("unchecked")
            Handler<String> handler = ctx.getBean(Handler.class);
            assertThat(AopUtils.isJdkDynamicProxy(greeter)).as("a JDK proxy").isTrue();
            assertThat(AopUtils.isJdkDynamicProxy(pinger)).isTrue();
            assertThat(AopUtils.isJdkDynamicProxy(handler)).isTrue();
            assertThat(ctx.getBeansOfType(PoliteGreeter.class)).as("an interface proxy is not the class").isEmpty();

            assertThat(greeter.greet("you")).succeedsWithin(PATIENCE).asString().startsWith("hello you from kworker");
            assertThat(pinger.ping()).as("annotation on the implementation").succeedsWithin(PATIENCE).asString()
                    .startsWith("kworker");
            assertThat(handler.handle("v")).as("through a generic interface").succeedsWithin(PATIENCE).asString()
                    .startsWith("v on kworker");

            Blocker blocker = ctx.getBean(Blocker.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(greeter.nudge("k")).isTrue();
                assertThat(greeter.nudge("k")).as("coalescing through the interface proxy").isFalse();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
        });
    }

    // ---- class (CGLIB) proxies ----------------------------------------------------------------

    static class Plain {
        @WorkItem(queue = "system_unbound_wq")
        public CompletableFuture<String> where() {
            return CompletableFuture.completedFuture(thread());
        }
    }

    /** A generic interface whose implementation is called both through it (a bridge method) and directly. */
    interface Sink<T> {
        @WorkItem(queue = "serial")
        boolean accept(T value);
    }

    static class StringSink implements Sink<String> {
        private final AtomicInteger accepted = new AtomicInteger();

        @Override
        public boolean accept(String value) {
            accepted.incrementAndGet();
            return true;
        }

        public int accepted() {
            return accepted.get();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ClassConfig {
        @Bean
        Blocker blocker() {
            return new Blocker();
        }

        @Bean
        Plain plain() {
            return new Plain();
        }

        @Bean
        StringSink sink() {
            return new StringSink();
        }

        @Bean
        PoliteGreeter greeter() {
            return new PoliteGreeter();
        }
    }

    @Test
    void classProxiesByDefault() {
        runner.withUserConfiguration(ClassConfig.class).run(ctx -> {
            Plain plain = ctx.getBean(Plain.class);
            PoliteGreeter greeter = ctx.getBean(PoliteGreeter.class);
            assertThat(AopUtils.isCglibProxy(plain)).isTrue();
            assertThat(AopUtils.isCglibProxy(greeter)).as("class proxy even with an interface").isTrue();
            assertThat(plain.where()).succeedsWithin(PATIENCE).asString().startsWith("kworker");
            assertThat(greeter.greet("me")).succeedsWithin(PATIENCE).asString().startsWith("hello me from kworker");

            // Through the generic interface (the bridge method) and directly: one method, one item.
            StringSink sink = ctx.getBean(StringSink.class);
            Sink<String> viaInterface = sink;
            Blocker blocker = ctx.getBean(Blocker.class);
            blocker.hold();
            blocker.awaitHeld();
            try {
                assertThat(viaInterface.accept("k")).isTrue();
                assertThat(sink.accept("k")).as("the same item, called without the bridge").isFalse();
                assertThat(viaInterface.accept("k")).isFalse();
            } finally {
                blocker.release();
            }
            eventually().until(() -> liveItems(ctx) == 0);
            assertThat(sink.accepted()).isEqualTo(1);
        });
    }

    // ---- beans with other advice --------------------------------------------------------------

    static class Cached {
        private final AtomicInteger computed = new AtomicInteger();

        @Cacheable("squares")
        public int square(int x) {
            computed.incrementAndGet();
            return x * x;
        }

        public int computed() {
            return computed.get();
        }

        @WorkItem(queue = "system_unbound_wq")
        public CompletableFuture<String> where() {
            return CompletableFuture.completedFuture(thread());
        }
    }

    @Configuration(proxyBeanMethods = false)
    @EnableCaching
    static class CachingConfig {
        @Bean
        CacheManager cacheManager() {
            return new ConcurrentMapCacheManager("squares");
        }

        @Bean
        Cached cached() {
            return new Cached();
        }
    }

    @Test
    void aBeanWithCachingAdviceToo() {
        runner.withUserConfiguration(CachingConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Cached cached = ctx.getBean(Cached.class);
            assertThat(cached.square(3)).isEqualTo(9);
            assertThat(cached.square(3)).isEqualTo(9);
            assertThat(cached.computed()).as("the second call came from the cache").isEqualTo(1);
            assertThat(cached.where()).succeedsWithin(PATIENCE).asString().startsWith("kworker");
            // One proxy, the work item advisor added in front of the caching advice.
            Advisor[] advisors = ((Advised) cached).getAdvisors();
            assertThat(advisors.length).isGreaterThanOrEqualTo(2);
            assertThat(advisors[0].getAdvice()).isInstanceOf(WorkItemInterceptor.class);
        });
    }

    /** Records which methods a custom interceptor saw, and on which thread. */
    static class Recorder {
        private final List<String> seen = new CopyOnWriteArrayList<>();

        public List<String> seen() {
            return List.copyOf(seen);
        }

        void add(String s) {
            seen.add(s);
        }
    }

    static class Audited {
        @WorkItem(queue = "system_unbound_wq")
        public CompletableFuture<String> work() {
            return CompletableFuture.completedFuture(thread());
        }

        public String plain() {
            return thread();
        }
    }

    /** Proxies the {@code audited} bean itself with a ProxyFactory, before the work item post-processor. */
    static class AuditingPostProcessor implements BeanPostProcessor, Ordered {
        private final Recorder recorder;

        AuditingPostProcessor(Recorder recorder) {
            this.recorder = recorder;
        }

        @Override
        public Object postProcessAfterInitialization(Object bean, String beanName) {
            if (!(bean instanceof Audited)) {
                return bean;
            }
            ProxyFactory pf = new ProxyFactory(bean);
            pf.setProxyTargetClass(true);
            pf.addAdvice((MethodInterceptor) inv -> {
                recorder.add(inv.getMethod().getName() + "@" + thread());
                return inv.proceed();
            });
            return pf.getProxy(bean.getClass().getClassLoader());
        }

        @Override
        public int getOrder() {
            return 0;
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class AuditConfig {
        static final Recorder RECORDER_FOR_BPP = new Recorder();

        @Bean
        static Recorder recorder() {
            return RECORDER_FOR_BPP;
        }

        @Bean
        static AuditingPostProcessor auditingPostProcessor() {
            return new AuditingPostProcessor(RECORDER_FOR_BPP);
        }

        @Bean
        Audited audited() {
            return new Audited();
        }
    }

    @Test
    void aBeanAlreadyProxiedByACustomAdvisorRunsThatAdviceInsideTheWorkItem() {
        runner.withUserConfiguration(AuditConfig.class).run(ctx -> {
            assertThat(ctx).hasNotFailed();
            Audited audited = ctx.getBean(Audited.class);
            Recorder recorder = ctx.getBean(Recorder.class);
            String caller = thread();
            assertThat(audited.plain()).isEqualTo(caller);
            assertThat(audited.work()).succeedsWithin(PATIENCE).asString().startsWith("kworker");
            assertThat(recorder.seen()).hasSize(2);
            assertThat(recorder.seen().get(0)).isEqualTo("plain@" + caller);
            assertThat(recorder.seen().get(1)).as("the custom advice runs in the worker, inside the work item")
                    .startsWith("work@kworker");
        });
    }

    // ---- calls that bypass the proxy ----------------------------------------------------------

    static class Selfish {
        private final List<String> pings = new CopyOnWriteArrayList<>();
        private Selfish self;

        @Autowired
        void setSelf(@Lazy Selfish self) {
            this.self = self;
        }

        @WorkItem(queue = "system_unbound_wq")
        public boolean ping() {
            pings.add(thread());
            return false; // what the body returns: seen only by a self-invocation
        }

        /** {@code this.ping()}: not through the proxy. */
        public boolean pingThis() {
            return this.ping();
        }

        /** Through the (lazily injected) proxy of this bean. */
        public boolean pingSelf() {
            return self.ping();
        }

        public List<String> pings() {
            return List.copyOf(pings);
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class SelfConfig {
        @Bean
        Selfish selfish() {
            return new Selfish();
        }
    }

    /**
     * As with {@code @Async}: {@code this.ping()} does not go through the proxy, so it runs at once,
     * synchronously, in the caller's thread, and returns what the method body returns.
     */
    @Test
    void selfInvocationRunsSynchronouslyInTheCallerThread() {
        runner.withUserConfiguration(SelfConfig.class).run(ctx -> {
            Selfish s = ctx.getBean(Selfish.class);
            String caller = thread();
            assertThat(s.pingThis()).as("the body's own return value, not 'queued'").isFalse();
            assertThat(s.pings()).as("already ran, no waiting: synchronously").containsExactly(caller);
            assertThat(liveItems(ctx)).isZero();

            // Through the injected proxy of itself, it is a work item.
            assertThat(s.pingSelf()).as("queued").isTrue();
            eventually().until(() -> s.pings().size() == 2);
            assertThat(s.pings().get(1)).startsWith("kworker");
        });
    }
}
