/* SPDX-License-Identifier: MIT */
/*
 * msgpack <-> jansson, with msgpack-c doing all the encoding and decoding.
 *
 * One check comes before msgpack-c sees a client's bytes: msgpack-c
 * allocates a container's element array as soon as it reads the count in
 * its header, so five bytes claiming 2^32 elements would make it try to
 * allocate gigabytes. Every element takes at least one byte, so in a valid
 * message the counts of all containers add up to less than its length;
 * claims_fit() walks the headers (skipping string, binary and extension
 * bodies) and refuses a message whose claims do not fit, which bounds what
 * msgpack-c allocates to a small multiple of the message.
 */
#include "msgpack-json.h"

#include <endian.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Deeper than this is refused (msgpack-c stops at 32 itself). */
#define MPJSON_MAX_DEPTH 32

static int fail(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static uint64_t read_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* For a type byte: bytes of its length field, the fixed body size, and
 * whether the length counts elements (array, map: x1, x2). */
struct head {
	unsigned len_bytes;
	uint64_t fixed;
	unsigned per_element;
};

static bool classify(uint8_t t, struct head *h)
{
	*h = (struct head){ 0 };
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return true;
	if ((t & 0xf0) == 0x80 || (t & 0xf0) == 0x90)
		return true; /* fixmap/fixarray: counted by the caller */
	if ((t & 0xe0) == 0xa0) {
		h->fixed = t & 0x1f;
		return true;
	}
	switch (t) {
	case 0xc4:
	case 0xc5:
	case 0xc6: /* bin 8/16/32 */
		h->len_bytes = 1u << (t - 0xc4);
		return true;
	case 0xc7:
	case 0xc8:
	case 0xc9: /* ext 8/16/32: + type byte */
		h->len_bytes = 1u << (t - 0xc7);
		h->fixed = 1;
		return true;
	case 0xca:
		h->fixed = 4;
		return true;
	case 0xcb:
		h->fixed = 8;
		return true;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		h->fixed = 1u << (t - 0xcc);
		return true;
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3:
		h->fixed = 1u << (t - 0xd0);
		return true;
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8: /* fixext */
		h->fixed = 1 + (1u << (t - 0xd4));
		return true;
	case 0xd9:
	case 0xda:
	case 0xdb: /* str 8/16/32 */
		h->len_bytes = 1u << (t - 0xd9);
		return true;
	case 0xdc:
	case 0xdd: /* array 16/32 */
		h->len_bytes = 2u << (t - 0xdc);
		h->per_element = 1;
		return true;
	case 0xde:
	case 0xdf: /* map 16/32 */
		h->len_bytes = 2u << (t - 0xde);
		h->per_element = 2;
		return true;
	default: /* 0xc1: never used */
		return false;
	}
}

static int claims_fit(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	uint64_t claimed = 0;
	size_t off = 0;

	while (off < len) {
		uint8_t t = p[off++];
		struct head h;
		if (!classify(t, &h))
			return fail(err, errlen,
				    "malformed msgpack: byte 0x%02x at %zu", t,
				    off - 1);
		uint64_t n = 0;
		if ((t & 0xf0) == 0x80)
			n = 2u * (t & 0x0f);
		else if ((t & 0xf0) == 0x90)
			n = t & 0x0f;
		if (h.len_bytes) {
			if (len - off < h.len_bytes)
				return fail(err, errlen, "truncated msgpack");
			uint64_t v = read_be(p + off, h.len_bytes);
			off += h.len_bytes;
			if (h.per_element)
				n = v * h.per_element;
			else
				h.fixed += v;
		}
		claimed += n;
		if (claimed > len)
			return fail(err, errlen,
				    "malformed msgpack: containers claim more "
				    "elements than the message has bytes");
		if (h.fixed > len - off)
			return fail(err, errlen, "truncated msgpack");
		off += (size_t)h.fixed;
	}
	return 0;
}

static json_t *to_json(const msgpack_object *o, unsigned depth, char *err,
		       size_t errlen);

static json_t *map_to_json(const msgpack_object_map *m, unsigned depth,
			   char *err, size_t errlen)
{
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR ||
		    memchr(k->via.str.ptr, '\0', k->via.str.size)) {
			fail(err, errlen,
			     "map keys must be strings without NUL");
			goto fail;
		}
		_cleanup_free_ char *key =
			strndup(k->via.str.ptr, k->via.str.size);
		if (!key)
			goto fail;
		if (json_object_get(obj, key)) {
			fail(err, errlen, "duplicate key \"%.64s\"", key);
			goto fail;
		}
		json_t *v = to_json(&m->ptr[i].val, depth + 1, err, errlen);
		if (!v)
			goto fail;
		if (json_object_set_new(obj, key, v) < 0) {
			fail(err, errlen, "map key is not valid UTF-8");
			goto fail;
		}
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *array_to_json(const msgpack_object_array *a, unsigned depth,
			     char *err, size_t errlen)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	for (uint32_t i = 0; i < a->size; i++) {
		json_t *v = to_json(&a->ptr[i], depth + 1, err, errlen);
		if (!v || json_array_append_new(arr, v) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *to_json(const msgpack_object *o, unsigned depth, char *err,
		       size_t errlen)
{
	json_t *j = NULL;

	if (depth > MPJSON_MAX_DEPTH) {
		fail(err, errlen, "nested deeper than %d", MPJSON_MAX_DEPTH);
		return NULL;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX) {
			fail(err, errlen, "integer %llu is out of range",
			     (unsigned long long)o->via.u64);
			return NULL;
		}
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64)) {
			fail(err, errlen, "non-finite number");
			return NULL;
		}
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		/* msgpack-c may give an empty string a NULL pointer. */
		if (o->via.str.size == 0)
			return json_string("");
		j = json_stringn(o->via.str.ptr, o->via.str.size);
		if (!j)
			fail(err, errlen, "string is not valid UTF-8");
		return j;
	case MSGPACK_OBJECT_ARRAY:
		return array_to_json(&o->via.array, depth, err, errlen);
	case MSGPACK_OBJECT_MAP:
		return map_to_json(&o->via.map, depth, err, errlen);
	case MSGPACK_OBJECT_BIN:
		fail(err, errlen,
		     "binary values are not supported "
		     "(send text, base64 for bytes)");
		return NULL;
	default:
		fail(err, errlen, "msgpack extension types are not supported");
		return NULL;
	}
}

int mpjson_decode(const void *buf, size_t len, json_t **ret, char *err,
		  size_t errlen)
{
	msgpack_unpacked u;
	size_t off = 0;
	int r;

	err[0] = '\0';
	if (len == 0)
		return fail(err, errlen, "empty msgpack payload");
	r = claims_fit(buf, len, err, errlen);
	if (r < 0)
		return r;

	msgpack_unpacked_init(&u);
	msgpack_unpack_return ur = msgpack_unpack_next(&u, buf, len, &off);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
		r = -ENOMEM;
	} else if (ur != MSGPACK_UNPACK_SUCCESS) {
		r = fail(err, errlen,
			 ur == MSGPACK_UNPACK_CONTINUE ? "truncated msgpack"
						       : "malformed msgpack");
	} else if (off != len) {
		r = fail(err, errlen, "%zu bytes after the msgpack value",
			 len - off);
	} else {
		json_t *j = to_json(&u.data, 0, err, errlen);
		if (j)
			*ret = j;
		else
			r = err[0] ? -EBADMSG : -ENOMEM;
	}
	msgpack_unpacked_destroy(&u);
	return r;
}

static int pack(msgpack_packer *pk, const json_t *j, unsigned depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 2 * MPJSON_MAX_DEPTH + 2048)
		return -EINVAL;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (msgpack_pack_map(pk, json_object_size(j)) < 0)
			return -ENOMEM;
		json_object_foreach((json_t *)j, key, v) {
			size_t n = strlen(key);
			if (msgpack_pack_str(pk, n) < 0 ||
			    msgpack_pack_str_body(pk, key, n) < 0)
				return -ENOMEM;
			int r = pack(pk, v, depth + 1);
			if (r < 0)
				return r;
		}
		return 0;
	case JSON_ARRAY:
		if (msgpack_pack_array(pk, json_array_size(j)) < 0)
			return -ENOMEM;
		json_array_foreach(j, i, v) {
			int r = pack(pk, v, depth + 1);
			if (r < 0)
				return r;
		}
		return 0;
	case JSON_STRING: {
		size_t n = json_string_length(j);
		if (msgpack_pack_str(pk, n) < 0 ||
		    msgpack_pack_str_body(pk, json_string_value(j), n) < 0)
			return -ENOMEM;
		return 0;
	}
	case JSON_INTEGER:
		return msgpack_pack_int64(pk, json_integer_value(j)) < 0
			       ? -ENOMEM
			       : 0;
	case JSON_REAL:
		return msgpack_pack_double(pk, json_real_value(j)) < 0 ? -ENOMEM
								       : 0;
	case JSON_TRUE:
		return msgpack_pack_true(pk) < 0 ? -ENOMEM : 0;
	case JSON_FALSE:
		return msgpack_pack_false(pk) < 0 ? -ENOMEM : 0;
	default:
		return msgpack_pack_nil(pk) < 0 ? -ENOMEM : 0;
	}
}

int mpjson_encode(const json_t *j, uint8_t **ret, size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int r = pack(&pk, j, 0);
	if (r < 0) {
		msgpack_sbuffer_destroy(&sb);
		return r;
	}
	*ret_len = sb.size;
	*ret = (uint8_t *)msgpack_sbuffer_release(&sb);
	if (!*ret) {
		/* An empty buffer is never allocated; nothing encodes to 0
		 * bytes, but stay safe. */
		*ret = malloc(1);
		if (!*ret)
			return -ENOMEM;
	}
	return 0;
}
