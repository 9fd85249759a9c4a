mael_tool(maelstrom-broker ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-broker.cc mael_cluster)
