/* Handlers of nodelet-cri split out of service.c (one file per area), and
 * the daemon-side state they share. Internal to cri/server. */
#pragma once

#include "cri/server/rpc.h"

/* ImageService (image_service.c), on the image store opened at startup. */
enum cri_status cri_h_list_images(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_image_status(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_pull_image(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_remove_image(void *user, const ProtobufCMessage *req, struct cri_reply *r);
enum cri_status cri_h_image_fs_info(void *user, const ProtobufCMessage *req, struct cri_reply *r);
