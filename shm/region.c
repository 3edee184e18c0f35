/* SPDX-License-Identifier: MIT */
/*
 * Regions: the memfd that holds the header page and both rings. The kernel
 * creates, maps and seals it (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so
 * the peer that shares it can never truncate it under the kernel's mapping;
 * the client maps what it is given and checks the header before it trusts
 * any offset in it.
 *
 * Layout (docs/shm.md): header page at 0; the submission ring's control
 * block at 4096 with its data right behind; the completion ring's control
 * block at the next page boundary; the size rounded up to a page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

_Static_assert(offsetof(struct shm_header, region_size) == 16, "layout");
_Static_assert(offsetof(struct shm_header, sq_offset) == 24, "layout");
_Static_assert(offsetof(struct shm_header, spin_us) == 52, "layout");
_Static_assert(offsetof(struct shm_header, kernel_state) == 128, "layout");
_Static_assert(offsetof(struct shm_header, detach_error) == 132, "layout");
_Static_assert(offsetof(struct shm_header, detach_reason) == 136, "layout");
_Static_assert(offsetof(struct shm_header, client_state) == 256, "layout");
_Static_assert(sizeof(struct shm_header) <= SHM_HEADER_SIZE, "layout");

#define PAGE  4096u
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static uint64_t page_align(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

bool shm_ring_size_valid(uint64_t size)
{
	return size >= SHM_MIN_RING && size <= SHM_MAX_RING &&
	       (size & (size - 1)) == 0;
}

int shm_geometry_init(struct shm_geometry *g, uint32_t sq_size,
		      uint32_t cq_size)
{
	if (!shm_ring_size_valid(sq_size) || !shm_ring_size_valid(cq_size))
		return -EINVAL;
	g->sq_offset = SHM_HEADER_SIZE;
	g->sq_size = sq_size;
	g->cq_offset = (uint32_t)page_align(g->sq_offset + SHM_CTRL_SIZE +
					    (uint64_t)sq_size);
	g->cq_size = cq_size;
	g->region_size =
		page_align(g->cq_offset + SHM_CTRL_SIZE + (uint64_t)cq_size);
	g->max_entry = (sq_size < cq_size ? sq_size : cq_size) / 4;
	return 0;
}

void shm_region_done(struct shm_region *r)
{
	if (r->base && r->base != MAP_FAILED)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	*r = (struct shm_region){ .fd = -EBADF };
}

static void write_header(struct shm_header *h, const struct shm_geometry *g,
			 uint32_t caller_id, uint32_t max_request,
			 uint32_t spin_us)
{
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->header_size = SHM_HEADER_SIZE;
	h->flags = SHM_HDR_MSGPACK;
	h->region_size = g->region_size;
	h->sq_offset = g->sq_offset;
	h->sq_size = g->sq_size;
	h->cq_offset = g->cq_offset;
	h->cq_size = g->cq_size;
	h->max_entry = g->max_entry;
	h->caller_id = caller_id;
	h->max_request = max_request;
	h->spin_us = spin_us;
}

int shm_region_create(struct shm_region *r, const struct shm_geometry *g,
		      uint32_t caller_id, uint32_t max_request,
		      uint32_t spin_us)
{
	*r = (struct shm_region){ .fd = -EBADF, .geo = *g };
	int ret;

	r->fd = memfd_create("clove-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0)
		goto fail_errno;
	if (ftruncate(r->fd, (off_t)g->region_size) < 0)
		goto fail_errno;
	r->size = g->region_size;
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		       0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		goto fail_errno;
	}
	r->hdr = r->base;
	write_header(r->hdr, g, caller_id, max_request, spin_us);
	if (fcntl(r->fd, F_ADD_SEALS, SEALS) < 0)
		goto fail_errno;
	return 0;

fail_errno:
	ret = errno > 0 ? -errno : -EIO;
	shm_region_done(r);
	return ret;
}

/* A ring's control block and data lie inside the region and do not
 * overlap the header. */
static bool ring_fits(uint64_t region, uint32_t offset, uint32_t size)
{
	return shm_ring_size_valid(size) && offset >= SHM_HEADER_SIZE &&
	       offset % SHM_BLOCK == 0 &&
	       (uint64_t)offset + SHM_CTRL_SIZE + size <= region;
}

static int check_header(const struct shm_header *h, uint64_t file_size,
			struct shm_geometry *g)
{
	if (h->magic != SHM_MAGIC || h->header_size != SHM_HEADER_SIZE)
		return -EPROTO;
	if (h->version != SHM_VERSION)
		return -EPROTONOSUPPORT;
	if (h->region_size != file_size)
		return -EPROTO;
	if (!ring_fits(file_size, h->sq_offset, h->sq_size) ||
	    !ring_fits(file_size, h->cq_offset, h->cq_size))
		return -EPROTO;
	/* The rings must not overlap each other. */
	uint64_t sq_end = (uint64_t)h->sq_offset + SHM_CTRL_SIZE + h->sq_size;
	uint64_t cq_end = (uint64_t)h->cq_offset + SHM_CTRL_SIZE + h->cq_size;
	if (!(sq_end <= h->cq_offset || cq_end <= h->sq_offset))
		return -EPROTO;
	uint32_t smaller = h->sq_size < h->cq_size ? h->sq_size : h->cq_size;
	if (h->max_entry < 64 || h->max_entry > smaller / 2)
		return -EPROTO;
	*g = (struct shm_geometry){
		.region_size = file_size,
		.sq_offset = h->sq_offset,
		.sq_size = h->sq_size,
		.cq_offset = h->cq_offset,
		.cq_size = h->cq_size,
		.max_entry = h->max_entry,
	};
	return 0;
}

int shm_region_map(struct shm_region *r, int fd)
{
	struct stat st;
	int ret;

	*r = (struct shm_region){ .fd = fd };
	if (fd < 0) {
		r->fd = -EBADF;
		return -EBADF;
	}
	if (fstat(fd, &st) < 0)
		goto fail_errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)SHM_HEADER_SIZE ||
	    (uint64_t)st.st_size > (1ull << 32)) {
		ret = -EPROTO;
		goto fail;
	}
	/* Without the seals the region could shrink under us. */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		goto fail_errno;
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW)) {
		ret = -EPROTO;
		goto fail;
	}
	r->size = (size_t)st.st_size;
	r->base =
		mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		goto fail_errno;
	}
	r->hdr = r->base;
	ret = check_header(r->hdr, (uint64_t)st.st_size, &r->geo);
	if (ret < 0)
		goto fail;
	return 0;

fail_errno:
	ret = errno > 0 ? -errno : -EIO;
fail:
	shm_region_done(r);
	return ret;
}

void shm_region_rings(struct shm_region *r, bool kernel_side,
		      struct shm_ring *sq, struct shm_ring *cq)
{
	uint8_t *b = r->base;
	shm_ring_bind(sq, b + r->geo.sq_offset, r->geo.sq_size,
		      r->geo.max_entry, !kernel_side);
	shm_ring_bind(cq, b + r->geo.cq_offset, r->geo.cq_size,
		      r->geo.max_entry, kernel_side);
}
