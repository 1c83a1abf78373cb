/* CRI Exec, Attach and PortForward (stream.c): the handlers that hand out
 * streaming URLs, and the daemon's streaming server behind them. */
#pragma once

#include "cri/server/rpc.h"
#include "lib/error.h"

struct cri_service;

/* Start the streaming server on address:port (NULL/0: 127.0.0.1 and a
 * port the kernel picks), serving svc's containers and sandboxes. */
int cri_stream_start(struct cri_service *svc, const char *address, int port, ndl_error_t *err);
/* Stop it (every stream session ends, exec'd processes are killed). */
void cri_stream_stop(void);

enum cri_status cri_h_exec(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_attach(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_port_forward(void *user, const ProtobufCMessage *req, struct cri_reply *r);
