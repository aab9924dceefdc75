/*
 * internal_api.h -- ADAOPT_INTERNAL_API: internals exported from the shared library so that
 * libadaopt_mpi links against it, but declared in no public header.  Not part of the API.
 */
#ifndef ADAOPT_INTERNAL_API_H
#define ADAOPT_INTERNAL_API_H

#if defined(__GNUC__)
#define ADAOPT_INTERNAL_API __attribute__((visibility("default")))
#else
#define ADAOPT_INTERNAL_API
#endif

#endif
