/* ovl: see ovl.h for the wire format. */
#include "proto/ovl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/wire.h"

#define ADDR_V4_LEN 8
#define ADDR_V6_LEN 20
#define FAMILY_V4 1
#define FAMILY_V6 2

/* Allowed value lengths of the known attributes. */
static const struct {
	uint16_t min, max;
} attr_len[OVL_A__MAX] = {
	[OVL_A_USER] = { 1, 64 },
	[OVL_A_PASSWORD] = { 1, 1024 },
	[OVL_A_DEVICE_KEY] = { 32, 32 },
	[OVL_A_NONCE] = { 32, 32 },
	[OVL_A_SIGNATURE] = { 64, 64 },
	[OVL_A_CERT] = { 1, 512 },
	[OVL_A_TURN_USER] = { 1, 256 },
	[OVL_A_TURN_PASSWORD] = { 1, 256 },
	[OVL_A_EXPIRES] = { 8, 8 },
	[OVL_A_TIME] = { 8, 8 },
	[OVL_A_ADDR] = { ADDR_V4_LEN, ADDR_V6_LEN },
	[OVL_A_ERROR_CODE] = { 2, 2 },
	[OVL_A_TEXT] = { 0, 512 },
	[OVL_A_SEQ] = { 4, 4 },
	[OVL_A_NODE] = { OVL_NODE_V4_LEN, OVL_NODE_V6_LEN },
	[OVL_A_TARGET] = { OVL_NODE_V4_LEN, OVL_NODE_V6_LEN },
};

int ovl_frame_len(const uint8_t *buf, size_t avail)
{
	size_t total;

	if (avail < OVL_HEADER_LEN)
		return 0;
	if (buf[0] != OVL_MAGIC)
		return -EBADMSG;
	total = OVL_HEADER_LEN + (size_t)wire_get16(buf + 2);
	return total > OVL_MAX_LEN ? -EBADMSG : (int)total;
}

int ovl_parse(const uint8_t *buf, size_t len, struct ovl_msg *m)
{
	size_t pos = OVL_HEADER_LEN;

	if (ovl_frame_len(buf, len) != (int)len || len < OVL_HEADER_LEN)
		return -EBADMSG;
	memset(m, 0, sizeof(*m));
	m->type = buf[1];
	m->len = (uint16_t)len;
	m->id = wire_get32(buf + 4);
	while (pos < len) {
		uint16_t type, alen;

		if (len - pos < 4)
			return -EBADMSG;
		type = wire_get16(buf + pos);
		alen = wire_get16(buf + pos + 2);
		pos += 4;
		if (alen > len - pos)
			return -EBADMSG;
		if (type > 0 && type < OVL_A__MAX) {
			if (alen < attr_len[type].min || alen > attr_len[type].max)
				return -EBADMSG;
			if (type == OVL_A_ADDR) {
				if (alen != ADDR_V4_LEN && alen != ADDR_V6_LEN)
					return -EBADMSG;
				if (m->n_addrs < OVL_MAX_ADDRS)
					m->addrs[m->n_addrs++] = (uint16_t)pos;
			}
			if (type == OVL_A_NODE || type == OVL_A_TARGET) {
				if (alen != OVL_NODE_V4_LEN && alen != OVL_NODE_V6_LEN)
					return -EBADMSG;
				if (type == OVL_A_NODE && m->n_nodes < OVL_MAX_NODES)
					m->nodes[m->n_nodes++] = (uint16_t)pos;
			}
			if (!m->off[type]) {
				m->off[type] = (uint16_t)pos;
				m->alen[type] = alen;
			}
		}
		pos += alen;
	}
	return 0;
}

uint16_t ovl_get_u16(const uint8_t *buf, const struct ovl_msg *m, enum ovl_attr a)
{
	return m->off[a] && m->alen[a] == 2 ? wire_get16(buf + m->off[a]) : 0;
}

uint64_t ovl_get_u64(const uint8_t *buf, const struct ovl_msg *m, enum ovl_attr a)
{
	return m->off[a] && m->alen[a] == 8 ? wire_get64(buf + m->off[a]) : 0;
}

int ovl_get_addr(const uint8_t *buf, const struct ovl_msg *m, unsigned i, union addr *out)
{
	const uint8_t *p;
	uint16_t alen;

	if (i >= m->n_addrs)
		return -EINVAL;
	p = buf + m->addrs[i];
	alen = wire_get16(p - 2);
	memset(out, 0, sizeof(*out));
	if (p[0] == FAMILY_V4 && alen == ADDR_V4_LEN) {
		out->v4.sin_family = AF_INET;
		memcpy(&out->v4.sin_port, p + 2, 2);
		memcpy(&out->v4.sin_addr, p + 4, 4);
		return 0;
	}
	if (p[0] == FAMILY_V6 && alen == ADDR_V6_LEN) {
		out->v6.sin6_family = AF_INET6;
		memcpy(&out->v6.sin6_port, p + 2, 2);
		memcpy(&out->v6.sin6_addr, p + 4, 16);
		return 0;
	}
	return -EINVAL;
}

int ovl_node_decode(const uint8_t *p, size_t vlen, struct ovl_node *out)
{
	memset(out, 0, sizeof(*out));
	out->id = wire_get64(p);
	out->incarnation = wire_get32(p + 8);
	out->state = p[12];
	if (out->state > 3)
		return -EINVAL;
	if (p[13] == FAMILY_V4 && vlen == OVL_NODE_V4_LEN) {
		out->addr.v4.sin_family = AF_INET;
		memcpy(&out->addr.v4.sin_port, p + 14, 2);
		memcpy(&out->addr.v4.sin_addr, p + 16, 4);
		return 0;
	}
	if (p[13] == FAMILY_V6 && vlen == OVL_NODE_V6_LEN) {
		out->addr.v6.sin6_family = AF_INET6;
		memcpy(&out->addr.v6.sin6_port, p + 14, 2);
		memcpy(&out->addr.v6.sin6_addr, p + 16, 16);
		return 0;
	}
	return -EINVAL;
}

int ovl_get_node(const uint8_t *buf, const struct ovl_msg *m, unsigned i, struct ovl_node *out)
{
	if (i >= m->n_nodes)
		return -EINVAL;
	return ovl_node_decode(buf + m->nodes[i], wire_get16(buf + m->nodes[i] - 2), out);
}

void ovl_put_node(struct ovl_builder *b, enum ovl_attr a, const struct ovl_node *n)
{
	uint8_t x[OVL_NODE_V6_LEN] = { 0 };

	wire_put64(x, n->id);
	wire_put32(x + 8, n->incarnation);
	x[12] = n->state;
	if (n->addr.sa.sa_family == AF_INET) {
		x[13] = FAMILY_V4;
		memcpy(x + 14, &n->addr.v4.sin_port, 2);
		memcpy(x + 16, &n->addr.v4.sin_addr, 4);
		ovl_put(b, a, x, OVL_NODE_V4_LEN);
	} else if (n->addr.sa.sa_family == AF_INET6) {
		x[13] = FAMILY_V6;
		memcpy(x + 14, &n->addr.v6.sin6_port, 2);
		memcpy(x + 16, &n->addr.v6.sin6_addr, 16);
		ovl_put(b, a, x, OVL_NODE_V6_LEN);
	} else {
		b->overflow = true;
	}
}

void ovl_build(struct ovl_builder *b, uint8_t *buf, size_t cap, enum ovl_type type, uint32_t id)
{
	b->buf = buf;
	b->cap = cap < OVL_MAX_LEN ? cap : OVL_MAX_LEN;
	b->len = OVL_HEADER_LEN;
	b->overflow = cap < OVL_HEADER_LEN;
	if (b->overflow)
		return;
	buf[0] = OVL_MAGIC;
	buf[1] = (uint8_t)type;
	wire_put16(buf + 2, 0);
	wire_put32(buf + 4, id);
}

void ovl_put(struct ovl_builder *b, enum ovl_attr a, const void *val, size_t len)
{
	if (b->overflow || len > 0xffff || b->cap - b->len < 4 + len) {
		b->overflow = true;
		return;
	}
	wire_put16(b->buf + b->len, (uint16_t)a);
	wire_put16(b->buf + b->len + 2, (uint16_t)len);
	if (len)
		memcpy(b->buf + b->len + 4, val, len);
	b->len += 4 + len;
}

void ovl_put_str(struct ovl_builder *b, enum ovl_attr a, const char *s)
{
	ovl_put(b, a, s, strlen(s));
}

void ovl_put_u16(struct ovl_builder *b, enum ovl_attr a, uint16_t v)
{
	uint8_t x[2];

	wire_put16(x, v);
	ovl_put(b, a, x, sizeof(x));
}

void ovl_put_u64(struct ovl_builder *b, enum ovl_attr a, uint64_t v)
{
	uint8_t x[8];

	wire_put64(x, v);
	ovl_put(b, a, x, sizeof(x));
}

void ovl_put_addr(struct ovl_builder *b, const union addr *a)
{
	uint8_t x[ADDR_V6_LEN] = { 0 };

	if (a->sa.sa_family == AF_INET) {
		x[0] = FAMILY_V4;
		memcpy(x + 2, &a->v4.sin_port, 2);
		memcpy(x + 4, &a->v4.sin_addr, 4);
		ovl_put(b, OVL_A_ADDR, x, ADDR_V4_LEN);
	} else if (a->sa.sa_family == AF_INET6) {
		x[0] = FAMILY_V6;
		memcpy(x + 2, &a->v6.sin6_port, 2);
		memcpy(x + 4, &a->v6.sin6_addr, 16);
		ovl_put(b, OVL_A_ADDR, x, ADDR_V6_LEN);
	} else {
		b->overflow = true;
	}
}

int ovl_finish(struct ovl_builder *b)
{
	if (b->overflow)
		return -ENOSPC;
	wire_put16(b->buf + 2, (uint16_t)(b->len - OVL_HEADER_LEN));
	return (int)b->len;
}

int ovl_build_error(uint8_t *buf, size_t cap, uint32_t id, enum ovl_error code, const char *text)
{
	struct ovl_builder b;

	ovl_build(&b, buf, cap, OVL_ERROR, id);
	ovl_put_u16(&b, OVL_A_ERROR_CODE, (uint16_t)code);
	if (text)
		ovl_put(&b, OVL_A_TEXT, text, strnlen(text, 512));
	return ovl_finish(&b);
}
