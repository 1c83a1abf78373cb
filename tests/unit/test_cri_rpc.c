/* Tests of the gRPC server framework (cri/server/rpc.c) with the C client:
 * dispatch, status mapping, handler errors, concurrency, server-streaming
 * subscribers fed by posted events, and shutdown with calls in flight. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cri/client/client.h"
#include "cri/server/rpc.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

static enum cri_status h_echo(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	const Runtime__V1__VersionRequest *in = (const Runtime__V1__VersionRequest *)req;
	Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;
	resp.runtime_name = in->version;
	resp.runtime_api_version = (char *)(user ? (const char *)user : "");
	return cri_reply_ok(r, &resp.base);
}

static enum cri_status h_fail(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	return cri_reply_error(r, CRI_NOT_FOUND, "sandbox \"%s\" not found", "abc");
}

static enum cri_status h_errno(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	ndl_error_t e = NDL_ERROR_INIT;
	ndl_error_setf(&e, EEXIST, "name \"x\" is reserved");
	enum cri_status st = cri_reply_from_error(r, &e);
	ndl_error_clear(&e);
	return st;
}

static enum cri_status h_noresp(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	return CRI_OK;
}

static enum cri_status h_slow(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	usleep(300 * 1000);
	return h_echo(user, req, r);
}

static const struct cri_method methods[] = {
    {"/test.Svc/Echo", &runtime__v1__version_request__descriptor, h_echo, NULL},
    {"/test.Svc/Fail", &runtime__v1__version_request__descriptor, h_fail, NULL},
    {"/test.Svc/Errno", &runtime__v1__version_request__descriptor, h_errno, NULL},
    {"/test.Svc/NoResp", &runtime__v1__version_request__descriptor, h_noresp, NULL},
    {"/test.Svc/Slow", &runtime__v1__version_request__descriptor, h_slow, NULL},
    {"/test.Svc/Later", &runtime__v1__version_request__descriptor, NULL,
     "Later is not implemented yet"},
};

static enum cri_status on_sub(void *user, const ProtobufCMessage *req, struct cri_reply *r)
{
	return CRI_OK;
}

static const struct cri_stream_method stream = {"/runtime.v1.RuntimeService/GetContainerEvents",
						&runtime__v1__get_events_request__descriptor,
						on_sub};

struct fixture {
	char *dir, *sock;
	struct cri_rpc_server *srv;
	struct cri_client *cli;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/test_cri_rpc.XXXXXX";
	f->dir = xstrdup(mkdtemp(tmpl));
	f->sock = xasprintf("%s/s.sock", f->dir);
	struct cri_rpc_config cfg = {.listen = f->sock,
				     .workers = 3,
				     .methods = methods,
				     .n_methods = sizeof(methods) / sizeof(methods[0]),
				     .stream = &stream,
				     .user = (void *)"u",
				     .stream_queue_max = 8};
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_rpc_start(&cfg, &f->srv, &err), 0);
	assert_int_equal(cri_client_connect(f->sock, &f->cli, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cri_client_close(f->cli);
	cri_rpc_stop(f->srv);
	ndl_rm_rf(f->dir, NULL);
	free(f->dir);
	free(f->sock);
	free(f);
	return 0;
}

static int call(struct fixture *f, const char *path, const char *arg,
		Runtime__V1__VersionResponse **ret, struct cri_call_status *st, ndl_error_t *err)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	req.version = (char *)arg;
	ProtobufCMessage *resp = NULL;
	int r = cri_client_call(f->cli, path, &req.base, &runtime__v1__version_response__descriptor,
				5000, &resp, st, err);
	if (r == 0)
		*ret = (Runtime__V1__VersionResponse *)resp;
	return r;
}

static void test_unary_ok_and_errors(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__VersionResponse *resp = NULL;
	struct cri_call_status st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(call(f, "/test.Svc/Echo", "hello", &resp, &st, &err), 0);
	assert_int_equal(st.code, 0);
	assert_string_equal(resp->runtime_name, "hello");
	assert_string_equal(resp->runtime_api_version, "u"); /* user pointer reaches handlers */
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	struct {
		const char *path;
		int code, err;
		const char *needle;
	} cases[] = {
	    {"/test.Svc/Fail", 5, ENOENT,
	     "Fail: rpc error: code = NotFound desc = sandbox \"abc\" not found"},
	    {"/test.Svc/Errno", 6, EEXIST, "code = AlreadyExists desc = name \"x\" is reserved"},
	    {"/test.Svc/NoResp", 13, EIO, "handler produced no response"},
	    {"/test.Svc/Later", 12, ENOSYS, "Later is not implemented yet"},
	    {"/test.Svc/Missing", 12, ENOSYS, "unknown method /test.Svc/Missing"},
	    {"/runtime.v1.RuntimeService/Version", 12, ENOSYS, "unknown method"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp = NULL;
		assert_true(call(f, cases[i].path, "x", &resp, &st, &err) < 0);
		assert_null(resp);
		assert_int_equal(st.code, cases[i].code);
		assert_int_equal(err.code, cases[i].err);
		if (!strstr(ndl_error_msg(&err), cases[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, ndl_error_msg(&err),
				 cases[i].needle);
		ndl_error_clear(&err);
	}
}

static void test_deadline(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct cri_call_status st;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cri_client_call(f->cli, "/test.Svc/Slow", &req.base,
				    &runtime__v1__version_response__descriptor, 50, &resp, &st,
				    &err) < 0);
	assert_int_equal(st.code, 4);
	assert_int_equal(err.code, ETIMEDOUT);
	ndl_error_clear(&err);
}

struct par {
	struct fixture *f;
	int ok;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	for (int i = 0; i < 40; i++) {
		char s[32];
		snprintf(s, sizeof(s), "t%d", i);
		Runtime__V1__VersionResponse *resp = NULL;
		ndl_error_t err = NDL_ERROR_INIT;
		if (call(p->f, "/test.Svc/Echo", s, &resp, NULL, &err) == 0 &&
		    strcmp(resp->runtime_name, s) == 0)
			p->ok++;
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		ndl_error_clear(&err);
	}
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	struct fixture *f = *state;
	pthread_t th[6];
	struct par p[6];
	for (int i = 0; i < 6; i++) {
		p[i] = (struct par){f, 0};
		pthread_create(&th[i], NULL, par_main, &p[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].ok, 40);
	}
}

static void *slow_main(void *arg)
{
	struct par *p = arg;
	Runtime__V1__VersionResponse *resp = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (call(p->f, "/test.Svc/Slow", "s", &resp, NULL, &err) == 0)
		p->ok++;
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	ndl_error_clear(&err);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n concurrent 300 ms calls; returns the seconds they took together. */
static double slow_burst(struct fixture *f, int n)
{
	pthread_t th[32];
	struct par p[32];
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		p[i] = (struct par){f, 0};
		pthread_create(&th[i], NULL, slow_main, &p[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].ok, 1);
	}
	return now_s() - t0;
}

/* Calls that wait (a stop's grace period) must not queue behind the base
 * workers: the pool grows to max_workers, then shrinks after idle_ms. */
static void test_pool_grows_and_shrinks(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/test_cri_rpc.XXXXXX";
	f->dir = xstrdup(mkdtemp(tmpl));
	f->sock = xasprintf("%s/s.sock", f->dir);
	struct cri_rpc_config cfg = {.listen = f->sock,
				     .workers = 2,
				     .max_workers = 8,
				     .idle_ms = 300,
				     .methods = methods,
				     .n_methods = sizeof(methods) / sizeof(methods[0])};
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_rpc_start(&cfg, &f->srv, &err), 0);
	assert_int_equal(cri_client_connect(f->sock, &f->cli, &err), 0);
	*state = f;
	assert_int_equal(cri_rpc_workers(f->srv), 2);
	/* 8 calls of 300 ms on 2 fixed workers would take 1.2 s. */
	double t = slow_burst(f, 8);
	assert_true(t < 0.9);
	assert_true(cri_rpc_workers(f->srv) <= 8);
	assert_true(cri_rpc_workers(f->srv) > 2);
	/* Idle extras exit; the base stays. */
	for (int i = 0; i < 50 && cri_rpc_workers(f->srv) > 2; i++)
		usleep(100 * 1000);
	assert_int_equal(cri_rpc_workers(f->srv), 2);
	/* The bound holds: 16 calls on at most 8 workers need two rounds, and
	 * the pool grows again after shrinking (retired threads are reused). */
	t = slow_burst(f, 16);
	assert_true(t >= 0.59);
	assert_true(t < 2.0);
	assert_int_equal(cri_rpc_workers(f->srv), 8);
}

/* A raw gRPC core streaming client for GetContainerEvents-style methods. */
struct sub {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array md, trailing;
	grpc_status_code status;
	grpc_slice details;
};

static void sub_open(struct sub *s, const char *sock)
{
	memset(s, 0, sizeof(*s));
	char *target = xasprintf("unix:%s", sock);
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	s->ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	free(target);
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice m =
	    grpc_slice_from_static_string("/runtime.v1.RuntimeService/GetContainerEvents");
	s->call = grpc_channel_create_call(s->ch, NULL, 0, s->cq, m, NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array_init(&s->md);
	grpc_metadata_array_init(&s->trailing);
	grpc_slice empty = grpc_empty_slice();
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&empty, 1);
	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md;
	assert_int_equal(grpc_call_start_batch(s->call, ops, 4, s, NULL), GRPC_CALL_OK);
	grpc_event ev = grpc_completion_queue_pluck(
	    s->cq, s,
	    gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN)),
	    NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	assert_true(ev.success);
	grpc_byte_buffer_destroy(bb);
}

/* Next message's container_id (heap), or NULL at end of stream/timeout. */
static char *sub_next(struct sub *s, int timeout_ms)
{
	grpc_byte_buffer *bb = NULL;
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &bb;
	assert_int_equal(grpc_call_start_batch(s->call, &op, 1, &bb, NULL), GRPC_CALL_OK);
	grpc_event ev = grpc_completion_queue_pluck(
	    s->cq, &bb,
	    gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			 gpr_time_from_millis(timeout_ms, GPR_TIMESPAN)),
	    NULL);
	if (ev.type != GRPC_OP_COMPLETE || !bb)
		return NULL;
	grpc_byte_buffer_reader rd;
	grpc_byte_buffer_reader_init(&rd, bb);
	grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	grpc_byte_buffer_destroy(bb);
	Runtime__V1__ContainerEventResponse *e = runtime__v1__container_event_response__unpack(
	    NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	assert_non_null(e);
	char *id = xstrdup(e->container_id);
	runtime__v1__container_event_response__free_unpacked(e, NULL);
	return id;
}

static void sub_close(struct sub *s, bool cancel)
{
	if (cancel)
		grpc_call_cancel(s->call, NULL);
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &s->trailing;
	op.data.recv_status_on_client.status = &s->status;
	op.data.recv_status_on_client.status_details = &s->details;
	assert_int_equal(grpc_call_start_batch(s->call, &op, 1, &s->status, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(s->cq, &s->status, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->md);
	grpc_metadata_array_destroy(&s->trailing);
	grpc_call_unref(s->call);
	grpc_completion_queue_shutdown(s->cq);
	grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(s->cq);
	grpc_channel_destroy(s->ch);
}

static void post(struct fixture *f, const char *id)
{
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	ev.container_id = (char *)id;
	ev.container_event_type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT;
	cri_rpc_post_event(f->srv, &ev.base);
}

static void wait_subs(struct fixture *f, int n)
{
	for (int i = 0; i < 200 && cri_rpc_subscribers(f->srv) != n; i++)
		usleep(10 * 1000);
	assert_int_equal(cri_rpc_subscribers(f->srv), n);
}

static void test_stream_events(void **state)
{
	struct fixture *f = *state;
	post(f, "before"); /* nobody subscribed: dropped */
	struct sub a, b;
	sub_open(&a, f->sock);
	sub_open(&b, f->sock);
	wait_subs(f, 2);
	post(f, "c1");
	post(f, "c2");
	post(f, "c3");
	const char *want[] = {"c1", "c2", "c3"};
	for (int i = 0; i < 3; i++) {
		char *x = sub_next(&a, 3000), *y = sub_next(&b, 3000);
		assert_non_null(x);
		assert_non_null(y);
		assert_string_equal(x, want[i]);
		assert_string_equal(y, want[i]);
		free(x);
		free(y);
	}
	/* One subscriber leaves; the other keeps receiving. */
	sub_close(&a, true);
	wait_subs(f, 1);
	post(f, "c4");
	char *y = sub_next(&b, 3000);
	assert_string_equal(y, "c4");
	free(y);
	/* Unary calls are unaffected by an open stream. */
	Runtime__V1__VersionResponse *resp = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(call(f, "/test.Svc/Echo", "still", &resp, NULL, &err), 0);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	/* A subscriber that does not read is dropped once its backlog passes the
	 * limit (8 here), instead of growing memory. gRPC buffers some messages
	 * in flight, so post many. */
	for (int i = 0; i < 2000; i++) {
		char id[512];
		snprintf(id, sizeof(id), "flood-%d-%0400d", i, 0);
		post(f, id);
	}
	wait_subs(f, 0);
	sub_close(&b, false);
	assert_int_equal(b.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
}

static void test_client_events_api(void **state)
{
	struct fixture *f = *state;
	struct cri_event_stream *es = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_int_equal(cri_client_events_open(f->cli, &es, &err), 0);
	wait_subs(f, 1);
	Runtime__V1__ContainerEventResponse *e = NULL;
	/* Nothing posted yet: a timeout, and the stream stays usable. */
	assert_int_equal(cri_client_events_next(es, 50, &e, &err), -ETIMEDOUT);
	ndl_error_clear(&err);
	post(f, "e1");
	post(f, "e2");
	assert_int_equal(cri_client_events_next(es, 3000, &e, &err), 0);
	assert_string_equal(e->container_id, "e1");
	assert_int_equal(e->container_event_type,
			 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	runtime__v1__container_event_response__free_unpacked(e, NULL);
	assert_int_equal(cri_client_events_next(es, 3000, &e, &err), 0);
	assert_string_equal(e->container_id, "e2");
	runtime__v1__container_event_response__free_unpacked(e, NULL);
	/* Close with a receive outstanding. */
	assert_int_equal(cri_client_events_next(es, 10, &e, &err), -ETIMEDOUT);
	ndl_error_clear(&err);
	cri_client_events_close(es);
	wait_subs(f, 0);

	/* The server going away ends the stream with a status. */
	assert_int_equal(cri_client_events_open(f->cli, &es, &err), 0);
	wait_subs(f, 1);
	cri_rpc_stop(f->srv);
	f->srv = NULL;
	int r = cri_client_events_next(es, 5000, &e, &err);
	assert_true(r < 0 && r != -ETIMEDOUT);
	assert_non_null(strstr(ndl_error_msg(&err), "stream ended"));
	ndl_error_clear(&err);
	cri_client_events_close(es);
}

static void test_stop_with_open_stream_and_slow_call(void **state)
{
	struct fixture *f = *state;
	struct sub a;
	sub_open(&a, f->sock);
	wait_subs(f, 1);
	/* Stop while a subscriber is connected: must not hang. The teardown's
	 * cri_rpc_stop is then a no-op on NULL. */
	cri_rpc_stop(f->srv);
	f->srv = NULL;
	char *x = sub_next(&a, 3000);
	assert_null(x);
	sub_close(&a, false);
	assert_int_not_equal(a.status, GRPC_STATUS_OK);
}

static void test_listen_failure(void **state)
{
	struct cri_rpc_config cfg = {.listen = "/nonexistent-dir/x/s.sock",
				     .workers = 1,
				     .methods = methods,
				     .n_methods = 1};
	struct cri_rpc_server *s = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	assert_true(cri_rpc_start(&cfg, &s, &err) < 0);
	assert_null(s);
	assert_non_null(strstr(ndl_error_msg(&err), "cannot listen"));
	ndl_error_clear(&err);
	cfg.workers = 0;
	assert_int_equal(cri_rpc_start(&cfg, &s, &err), -EINVAL);
	ndl_error_clear(&err);
}

static void test_method_table_matches_proto(void **state)
{
	/* Every unary method of our proto has a typed client wrapper (methods.h)
	 * and resolves by name; the one streaming method is known as such. */
	const ProtobufCServiceDescriptor *svcs[] = {&runtime__v1__runtime_service__descriptor,
						    &runtime__v1__image_service__descriptor};
	size_t n_unary = 0;
	for (int s = 0; s < 2; s++)
		for (unsigned i = 0; i < svcs[s]->n_methods; i++) {
			int streaming = -1;
			assert_int_equal(cri_method_lookup(svcs[s]->methods[i].name, NULL, NULL,
							   NULL, &streaming),
					 0);
			n_unary += !streaming;
		}
#define COUNT(svc, M, l, Req, Resp) +1
	size_t n_wrappers = 0 CRI_UNARY_METHODS(COUNT);
#undef COUNT
	assert_int_equal(n_unary, n_wrappers);
	assert_int_equal(n_unary, 33);
	assert_int_equal(cri_method_lookup("NoSuch", NULL, NULL, NULL, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unary_ok_and_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_events_api, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_with_open_stream_and_slow_call, setup,
					    teardown),
	    cmocka_unit_test_teardown(test_pool_grows_and_shrinks, teardown),
	    cmocka_unit_test(test_listen_failure),
	    cmocka_unit_test(test_method_table_matches_proto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
