mael_tool(maelstrom-worker ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-worker.cc mael_cluster mael_container)
