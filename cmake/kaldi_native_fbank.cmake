# kaldi-native-fbank's C++ sources, built into the extension so the front end runs natively, without Python objects
# per sample (as sherpa-onnx builds it). The release is 1.20.3, from its source distribution on PyPI (the registry
# the build already reaches; 69 kB, hash-checked): from 1.21 on, its FFT is kissfft, set up again for every frame,
# and the features take about twice the time (bench/fbank_versions.py).
#
# Offline: -DEDGEASR_KNF_ARCHIVE=/path/to/kaldi-native-fbank-1.20.3.tar.gz (the same file), or
# -DFETCHCONTENT_SOURCE_DIR_KALDI_NATIVE_FBANK=/path/to/its/unpacked/folder.
include(FetchContent)

set(EDGEASR_KNF_VERSION 1.20.3)
set(EDGEASR_KNF_SHA256 036e46a4dbe388dd79ae8029b08c879751a07de863f17347206f75f6ad25e519)
set(_knf_pypi_folder
    "https://files.pythonhosted.org/packages/c9/a2/c401d05404f7960aab7e7251cac2fae1df24955787b6d56590a0c82b45cd")
set(EDGEASR_KNF_ARCHIVE "${_knf_pypi_folder}/kaldi-native-fbank-${EDGEASR_KNF_VERSION}.tar.gz"
    CACHE STRING "kaldi-native-fbank ${EDGEASR_KNF_VERSION} source archive: URL or local file")

FetchContent_Declare(kaldi_native_fbank
  URL "${EDGEASR_KNF_ARCHIVE}"
  URL_HASH SHA256=${EDGEASR_KNF_SHA256}
  DOWNLOAD_EXTRACT_TIMESTAMP ON)
# Only the sources: its own CMake project would add install rules (a static library and headers in our wheel).
FetchContent_GetProperties(kaldi_native_fbank)
if(NOT kaldi_native_fbank_POPULATED)
  if(POLICY CMP0169)
    cmake_policy(SET CMP0169 OLD)  # FetchContent_Populate without add_subdirectory
  endif()
  FetchContent_Populate(kaldi_native_fbank)
endif()

set(_knf ${kaldi_native_fbank_SOURCE_DIR}/kaldi-native-fbank/csrc)
# online-feature.cc instantiates the online extractor for fbank, MFCC and Whisper features, so all three computers
# are needed; log.cc only with KNF_ENABLE_CHECK, which stays off (its checks abort; ours run before every call).
add_library(edgeasr_knf STATIC
  ${_knf}/feature-fbank.cc ${_knf}/feature-functions.cc ${_knf}/feature-mfcc.cc ${_knf}/feature-window.cc
  ${_knf}/fftsg.cc ${_knf}/kaldi-math.cc ${_knf}/mel-computations.cc ${_knf}/online-feature.cc ${_knf}/rfft.cc
  ${_knf}/whisper-feature.cc)
target_include_directories(edgeasr_knf SYSTEM PUBLIC ${kaldi_native_fbank_SOURCE_DIR})
target_compile_options(edgeasr_knf PRIVATE -O3 -w)
set_target_properties(edgeasr_knf PROPERTIES CXX_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)
