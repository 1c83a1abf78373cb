/* libcurl, loaded on first use. A daemon that only sometimes talks HTTP
 * (nodelet-cri pulls images; most of its life it serves local RPCs) pays for
 * libcurl at start-up when it links -lcurl: Debian's libcurl4 brings in
 * GnuTLS (via LDAP and RTMP), OpenSSL's libssl, Kerberos, LDAP, SASL, libssh2,
 * nghttp2, libidn2/libunistring, p11-kit, nettle, gmp... about 4.5 MB of
 * resident pages touched by the dynamic loader alone.
 *
 * Link libndl_lazycurl (and -ldl) instead of -lcurl, and keep calling the
 * ordinary curl API from <curl/curl.h>: this library defines the functions
 * nodelet uses (below) as forwarders that dlopen("libcurl.so.4") once, on the
 * first call, and resolve the real ones. Nothing else changes for callers.
 *
 * Forwarded: curl_global_init, curl_easy_init, curl_easy_setopt,
 * curl_easy_perform, curl_easy_getinfo, curl_easy_cleanup, curl_easy_reset,
 * curl_easy_strerror, curl_easy_escape, curl_free, curl_slist_append,
 * curl_slist_free_all. A program calling any other curl function fails to
 * link (undefined reference), which is the cue to add it here.
 *
 * curl_global_init does not load libcurl: its flags are kept and applied
 * when the first other call loads it (a program calls it at start; loading
 * there would map everything this library keeps out).
 *
 * If libcurl cannot be loaded, the calls fail the way libcurl's own do on
 * allocation failure (NULL handles, CURLE_FAILED_INIT) and
 * curl_easy_strerror(CURLE_FAILED_INIT) names the dlopen error. */
#pragma once

#include <stdbool.h>

/* Whether libcurl is loaded (it is after the first forwarded call
 * succeeded in loading it). For tests and diagnostics. */
bool ndl_lazycurl_loaded(void);
