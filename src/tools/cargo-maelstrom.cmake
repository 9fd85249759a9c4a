mael_tool(cargo-maelstrom ${CMAKE_CURRENT_SOURCE_DIR}/cargo-maelstrom.cc mael_cargo)
