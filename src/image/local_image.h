#pragma once
// Images on the local disk: OCI layouts (directory or tar) and `docker save`
// tars, imported into the depot's blob store.
#include <filesystem>
#include <string>

#include "image/blob_store.h"
#include "image/image_depot.h"
#include "image/image_name.h"
#include "image/manifest.h"

namespace mael {

// `ref.path` must already be absolute. Throws UserError.
ImageInfo import_local_image(const LocalRef& ref, BlobStore& store, const Platform& platform);

// Extracts regular files and directories of a tar (any compression) into
// `dest`, refusing absolute paths and "..". Throws UserError naming `file`.
void extract_archive(const std::filesystem::path& file, const std::filesystem::path& dest);

}  // namespace mael
